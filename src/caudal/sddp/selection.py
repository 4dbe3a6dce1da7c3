"""Cut selection: keep the stage LPs small without moving the bound.

A cut is *Level-1 dominant* when it is the highest cut at one of the stage's
visited (trial) states; the others can leave the stage LP without changing the
value-function approximation at any visited state. Inactive cuts stay in the
pool (for checkpoints, and because a later state may make them dominant again)
but leave the stage LP cache.

To add a strategy, define one method::

    class MySelection:
        def select(self, stage: int, pool: CutPool, visited: np.ndarray) -> np.ndarray:
            '''bool[pool.size]: which cuts stay in the stage LP.'''

Cut values are accumulated state by state in a fixed order (never through a
BLAS call whose summation order depends on array shapes), so every rank and a
resumed run select exactly the same cuts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from caudal.sddp.cuts import CutPool

CHUNK = 4096
"""Visited states evaluated at once: bounds the temporary (states x cuts) matrix."""


class CutSelection(Protocol):
    def select(self, stage: int, pool: CutPool, visited: np.ndarray) -> np.ndarray: ...


def cut_values(intercepts: np.ndarray, coefficients: np.ndarray, states: np.ndarray) -> np.ndarray:
    """float64[states, cuts]: every cut evaluated at every state, in a fixed summation order."""
    values = np.repeat(intercepts[None, :], states.shape[0], axis=0)
    for i in range(coefficients.shape[1]):
        values += states[:, i, None] * coefficients[None, :, i]
    return values


def dominating_cuts(
    intercepts: np.ndarray, coefficients: np.ndarray, states: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each state, the highest cut (the oldest on ties) and its value."""
    best_cut = np.empty(states.shape[0], dtype=np.int64)
    best_value = np.empty(states.shape[0])
    for lo in range(0, states.shape[0], CHUNK):
        values = cut_values(intercepts, coefficients, states[lo : lo + CHUNK])
        best_cut[lo : lo + CHUNK] = np.argmax(values, axis=1)
        best_value[lo : lo + CHUNK] = values[np.arange(values.shape[0]), best_cut[lo : lo + CHUNK]]
    return best_cut, best_value


def cap_active(best_cut: np.ndarray, n_cuts: int, max_active: int | None) -> np.ndarray:
    """The dominant cuts, at most ``max_active`` of them: those dominating most states (newest on ties)."""
    counts = np.bincount(best_cut, minlength=n_cuts)
    active = counts > 0
    if max_active is not None and int(active.sum()) > max_active:
        order = np.lexsort((-np.arange(n_cuts), -counts))  # most states first, then newest
        active = np.zeros(n_cuts, dtype=bool)
        active[order[:max_active]] = True
    return active


@dataclass
class Level1:
    """Exact Level-1 dominance, recomputed over all cuts and all visited states."""

    max_active: int | None = None

    def select(self, stage: int, pool: CutPool, visited: np.ndarray) -> np.ndarray:
        if visited.shape[0] == 0 or pool.size == 0:
            return np.ones(pool.size, dtype=bool)
        best_cut, _ = dominating_cuts(pool.intercepts, pool.coefficients, visited)
        return cap_active(best_cut, pool.size, self.max_active)


@dataclass
class LimitedMemoryLevel1:
    """Level-1 dominance kept up to date incrementally.

    For each visited state it remembers the highest cut and its value. New
    cuts are evaluated at every known state; new states against every cut.
    The active set equals :class:`Level1`'s, at a fraction of the work.
    """

    max_active: int | None = None
    # keyed by the pool object: the memory belongs to one training's pool, so
    # reusing this selection object for another training starts afresh
    _memory: dict[int, tuple[CutPool, int, int, np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def select(self, stage: int, pool: CutPool, visited: np.ndarray) -> np.ndarray:
        if visited.shape[0] == 0 or pool.size == 0:
            return np.ones(pool.size, dtype=bool)
        owner, seen_cuts, seen_states, best_cut, best_value = self._memory.get(
            stage, (pool, 0, 0, np.empty(0, dtype=np.int64), np.empty(0))
        )
        if owner is not pool or seen_cuts > pool.size or seen_states > visited.shape[0]:
            seen_cuts, seen_states, best_cut, best_value = 0, 0, np.empty(0, dtype=np.int64), np.empty(0)
        # new cuts at the states already known: a new cut wins only if strictly higher
        if pool.size > seen_cuts and seen_states:
            new_best, new_value = dominating_cuts(
                pool.intercepts[seen_cuts:], pool.coefficients[seen_cuts:], visited[:seen_states]
            )
            better = new_value > best_value
            best_cut = np.where(better, new_best + seen_cuts, best_cut)
            best_value = np.where(better, new_value, best_value)
        # new states against every cut
        if visited.shape[0] > seen_states:
            new_best, new_value = dominating_cuts(pool.intercepts, pool.coefficients, visited[seen_states:])
            best_cut = np.concatenate((best_cut, new_best))
            best_value = np.concatenate((best_value, new_value))
        self._memory[stage] = (pool, pool.size, visited.shape[0], best_cut, best_value)
        return cap_active(best_cut, pool.size, self.max_active)
