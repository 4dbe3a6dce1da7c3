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

Multi-cut, each cut bounds one opening's value column (its *target*), and the
value function is a weighted sum of one maximum per target: dominance is
decided within each target's cuts, so every target keeps its highest cut at
every visited state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from caudal.sddp.cuts import CutPool

try:
    from caudal._dominance import dominating_cuts_by_state, dominating_cuts_native
except ImportError:  # not built: the numpy blocks of dominating_cuts give the same bits, slower
    dominating_cuts_native = dominating_cuts_by_state = None

BLOCK_ELEMENTS = 1 << 15
"""Entries of the block of (state, cut) values computed at once: 256 KiB, which with its product buffer
stays in a core's L2 cache through the pass over every state coordinate. A block of every cut at
4096 states (what this replaced) is 330 MB at 10,000 cuts and went to main memory once per coordinate:
at 403 states, 200 new states x 10,000 cuts took 4 to 13 s per stage on a shared machine, the blocks
1.4 to 2.4 s (the compiled kernels, when built, 0.3 s)."""


class CutSelection(Protocol):
    def select(self, stage: int, pool: CutPool, visited: np.ndarray) -> np.ndarray: ...


def cut_values(intercepts: np.ndarray, coefficients: np.ndarray, states: np.ndarray) -> np.ndarray:
    """float64[states, cuts]: every cut evaluated at every state, in a fixed summation order.

    The value of cut ``c`` at state ``x`` is ``intercept_c``, then ``+ x_i * coef_ci`` for ``i = 0, 1, ...``,
    each product and sum rounded on its own: the reference :func:`dominating_cuts` reproduces bit for bit.
    """
    values = np.repeat(intercepts[None, :], states.shape[0], axis=0)
    for i in range(coefficients.shape[1]):
        values += states[:, i, None] * coefficients[None, :, i]
    return values


def dominating_cuts(
    intercepts: np.ndarray,
    coefficients: np.ndarray,
    states: np.ndarray,
    block_elements: int = BLOCK_ELEMENTS,
    native: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """For each state, the highest cut (the oldest on ties) and its value.

    The values are those of :func:`cut_values`, computed block by block (a
    few hundred states by a few hundred cuts) so that the pass over the state
    coordinates stays in cache; blocks of cuts are visited oldest first and a
    later block wins only when strictly higher, so ties go to the oldest cut as
    ``argmax`` over every cut would. The compiled kernels
    (``native/_dominance.pyx``) do the same without temporaries when they are
    built and ``native`` holds, transposing only the smaller operand; the
    numpy blocks are their reference.
    """
    n_rows, n_cuts = states.shape[0], intercepts.shape[0]
    best_cut = np.zeros(n_rows, dtype=np.int64)
    best_value = np.full(n_rows, -np.inf)
    if n_rows == 0:
        return best_cut, best_value
    if n_cuts == 0:
        raise ValueError("dominating_cuts needs at least one cut")
    if native and dominating_cuts_native is not None:
        intercepts = np.ascontiguousarray(intercepts, dtype=np.float64)
        if n_rows < n_cuts:  # transpose the few states, read the many cuts in place
            dominating_cuts_by_state(intercepts, np.ascontiguousarray(coefficients, dtype=np.float64),
                                     np.ascontiguousarray(states.T, dtype=np.float64), best_cut, best_value)
        else:  # transpose the few cuts, read the many states in place
            dominating_cuts_native(intercepts, np.ascontiguousarray(coefficients.T, dtype=np.float64),
                                   np.ascontiguousarray(states, dtype=np.float64), best_cut, best_value)
        return best_cut, best_value
    by_coordinate = np.ascontiguousarray(coefficients.T)  # [n, cuts]: one coordinate of every cut, contiguous
    cuts = min(n_cuts, max(1, block_elements // min(n_rows, 64)))  # long rows of cuts: fewer numpy calls
    rows = max(1, min(n_rows, block_elements // cuts))
    values = np.empty((rows, min(cuts, n_cuts)))
    product = np.empty_like(values)
    for lo in range(0, n_rows, rows):
        block_states = np.ascontiguousarray(states[lo : lo + rows].T)  # [n, rows]
        n = block_states.shape[1]
        for first in range(0, n_cuts, cuts):
            last = min(first + cuts, n_cuts)
            v, p = values[:n, : last - first], product[:n, : last - first]
            v[:] = intercepts[None, first:last]
            for i in range(by_coordinate.shape[0]):
                np.multiply(block_states[i, :, None], by_coordinate[i, None, first:last], out=p)
                v += p
            block_best = np.argmax(v, axis=1)
            block_value = v[np.arange(n), block_best]
            better = block_value > best_value[lo : lo + n]
            best_cut[lo : lo + n][better] = first + block_best[better]
            best_value[lo : lo + n][better] = block_value[better]
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
        best = [
            ids[dominating_cuts(pool.intercepts[ids], pool.coefficients[ids], visited)[0]]
            for ids in target_groups(pool)
        ]
        return cap_active(np.concatenate(best), pool.size, self.max_active)


def target_groups(pool: CutPool) -> list[np.ndarray]:
    """The cut ids of each target present in the pool, ascending (one group, every cut, single-cut)."""
    if pool.n_target_groups == 1:
        return [np.arange(pool.size)]
    order = np.argsort(pool.targets, kind="stable")
    bounds = np.flatnonzero(np.diff(pool.targets[order])) + 1
    return np.split(order, bounds)


@dataclass
class LimitedMemoryLevel1:
    """Level-1 dominance kept up to date incrementally.

    For each visited state (and target, multi-cut) it remembers the highest
    cut and its value. New cuts are evaluated at every known state; new states
    against every cut. The active set equals :class:`Level1`'s, at a fraction
    of the work.
    """

    max_active: int | None = None
    # keyed by (stage, target); the memory belongs to one training's pool, so
    # reusing this selection object for another training starts afresh
    _memory: dict[tuple[int, int], tuple[CutPool, int, int, np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False
    )

    def select(self, stage: int, pool: CutPool, visited: np.ndarray) -> np.ndarray:
        if visited.shape[0] == 0 or pool.size == 0:
            return np.ones(pool.size, dtype=bool)
        groups = target_groups(pool)
        best = [
            self._update((stage, int(pool.targets[ids[0]])), pool, ids, visited) for ids in groups
        ]
        return cap_active(np.concatenate(best), pool.size, self.max_active)

    def _update(self, key: tuple[int, int], pool: CutPool, ids: np.ndarray, visited: np.ndarray) -> np.ndarray:
        """The highest cut of group ``ids`` (pool ids, ascending) at every visited state."""
        owner, seen_cuts, seen_states, best_cut, best_value = self._memory.get(
            key, (pool, 0, 0, np.empty(0, dtype=np.int64), np.empty(0))
        )
        if owner is not pool or seen_cuts > pool.size or seen_states > visited.shape[0]:
            seen_cuts, seen_states, best_cut, best_value = 0, 0, np.empty(0, dtype=np.int64), np.empty(0)
        new_ids = ids[np.searchsorted(ids, seen_cuts) :]  # the group's cuts added since last time
        # new cuts at the states already known: a new cut wins only if strictly higher
        if new_ids.size and seen_states:
            new_best, new_value = dominating_cuts(
                _rows(pool.intercepts, new_ids), _rows(pool.coefficients, new_ids), visited[:seen_states]
            )
            better = new_value > best_value
            best_cut = np.where(better, new_ids[new_best], best_cut)
            best_value = np.where(better, new_value, best_value)
        # new states against every cut of the group
        if visited.shape[0] > seen_states:
            new_best, new_value = dominating_cuts(
                _rows(pool.intercepts, ids), _rows(pool.coefficients, ids), visited[seen_states:]
            )
            best_cut = np.concatenate((best_cut, ids[new_best]))
            best_value = np.concatenate((best_value, new_value))
        self._memory[key] = (pool, pool.size, visited.shape[0], best_cut, best_value)
        return best_cut


def _rows(array: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``array[ids]``, as a view when ``ids`` (ascending) is a run of consecutive rows.

    Single-cut, a group is every cut of the pool: a copy would move the whole
    pool (32 MB at 10,000 cuts of 403 states) for every stage and iteration.
    """
    if ids.size and int(ids[-1]) - int(ids[0]) + 1 == ids.size:
        return array[int(ids[0]) : int(ids[-1]) + 1]
    return array[ids]
