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
try:
    from caudal._stage_rows import update_level1
except ImportError:  # not built: _GroupMemory's dominating_cuts path gives the same answers
    update_level1 = None

BLOCK_ELEMENTS = 1 << 15
"""Entries of the block of (state, cut) values computed at once: 256 KiB, which with its product buffer
stays in a core's L2 cache through the pass over every state coordinate. A block of every cut at
4096 states (what this replaced) is 330 MB at 10,000 cuts and went to main memory once per coordinate:
at 403 states, 200 new states x 10,000 cuts took 4 to 13 s per stage on a shared machine, the blocks
1.4 to 2.4 s (the compiled kernels, when built, 0.3 s)."""

SMALL_UPDATE = 1 << 16
"""Most multiply-adds (new cuts x known states + new states x all cuts, x state size) that a
Level-1 update of a whole pool leaves to the one-loop kernel ``update_level1``: a backward stage of
a small case (4ree: one new cut and state per forward pass, a few hundred cuts of 4 states), where
the blocked kernels' setup and a dozen numpy calls cost more than the arithmetic. Larger updates
take the blocked kernels, which keep their operands in cache."""


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
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each state, the highest cut (the oldest on ties) and its value.

    The values are those of :func:`cut_values`, computed block by block (a
    few hundred states by a few hundred cuts) so that the pass over the state
    coordinates stays in cache; blocks of cuts are visited oldest first and a
    later block wins only when strictly higher, so ties go to the oldest cut as
    ``argmax`` over every cut would. The compiled kernels
    (``native/_dominance.pyx``) do the same without temporaries when they are
    built and ``native`` holds, transposing only the smaller operand; the
    numpy blocks are their reference. ``out``, if given, is the pair of
    arrays (int64 and float64, contiguous, one entry per state) to fill and return.
    """
    n_rows, n_cuts = states.shape[0], intercepts.shape[0]
    if out is None:
        best_cut, best_value = np.zeros(n_rows, dtype=np.int64), np.full(n_rows, -np.inf)
    else:
        best_cut, best_value = out
        best_cut[:], best_value[:] = 0, -np.inf
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
    _memory: dict[tuple[int, int], _GroupMemory] = field(default_factory=dict, repr=False)

    def select(self, stage: int, pool: CutPool, visited: np.ndarray) -> np.ndarray:
        if visited.shape[0] == 0 or pool.size == 0:
            return np.ones(pool.size, dtype=bool)
        return cap_active(self.highest_cuts(stage, pool, visited), pool.size, self.max_active)

    def highest_cuts(self, stage: int, pool: CutPool, visited: np.ndarray) -> np.ndarray:
        """The pool id of the highest cut of each target group at each visited state (a pool of at least one cut).

        Group by group, each group's answers in state order. With one group
        (single-cut), a view of the memory, valid until the next call for the stage.
        """
        if pool.n_target_groups == 1:  # single-cut: every cut, target 0 (no group ids to build)
            return self._update((stage, 0), pool, None, visited)
        best = [self._update((stage, int(pool.targets[ids[0]])), pool, ids, visited) for ids in target_groups(pool)]
        return best[0] if len(best) == 1 else np.concatenate(best)

    def _update(self, key: tuple[int, int], pool: CutPool, ids: np.ndarray | None, visited: np.ndarray) -> np.ndarray:
        """The highest cut of group ``ids`` (pool ids, ascending; ``None``: every cut) at every visited state.

        A view of the group's memory, valid until the next call for ``key``.
        """
        memory = self._memory.get(key)
        if memory is None or not memory.follows(pool, visited):
            memory = self._memory[key] = _GroupMemory(pool)
        whole_pool = ids is None or ids.size == pool.size
        if update_level1 is not None and whole_pool and memory.is_small_update(visited):
            memory.update_whole_pool(visited)
        else:
            if ids is None:
                ids = np.arange(pool.size)
            memory.add_cuts(ids, visited)
            memory.add_states(ids, visited)
        return memory.best_cut


class _GroupMemory:
    """The highest cut of one (stage, target) group at each visited state, kept up to date in place.

    The answers live in buffers grown by doubling, so a new state costs its own
    evaluation, not a copy of every answer before it (an iteration of 200
    forward passes adds 200 states to every stage), and a new cut updates the
    answers where they stand.
    """

    def __init__(self, pool: CutPool):
        self.pool = pool
        self.seen_cuts = 0  # the pool's size when last updated: later cuts are new
        self.seen_states = 0
        self._best_cut = np.empty(0, dtype=np.int64)
        self._best_value = np.empty(0)

    @property
    def best_cut(self) -> np.ndarray:
        return self._best_cut[: self.seen_states]

    def follows(self, pool: CutPool, visited: np.ndarray) -> bool:
        """Whether the memory is of ``pool`` and of a prefix of ``visited`` (an undone iteration truncates both)."""
        return self.pool is pool and self.seen_cuts <= pool.size and self.seen_states <= visited.shape[0]

    def is_small_update(self, visited: np.ndarray) -> bool:
        """Whether the update to the whole pool and ``visited`` is at most :data:`SMALL_UPDATE` multiply-adds."""
        n_cuts, n_states = self.pool.size, visited.shape[0]
        pairs = (n_cuts - self.seen_cuts) * self.seen_states + (n_states - self.seen_states) * n_cuts
        return pairs * visited.shape[1] <= SMALL_UPDATE

    def update_whole_pool(self, visited: np.ndarray) -> None:
        """:meth:`add_cuts` then :meth:`add_states` for a group holding every cut, in one compiled loop."""
        pool, total = self.pool, visited.shape[0]
        self._reserve(total)
        update_level1(np.ascontiguousarray(pool.intercepts), np.ascontiguousarray(pool.coefficients),
                      np.ascontiguousarray(visited, dtype=np.float64), self.seen_cuts, self.seen_states,
                      self._best_cut, self._best_value)
        self.seen_cuts, self.seen_states = pool.size, total

    def add_cuts(self, ids: np.ndarray, visited: np.ndarray) -> None:
        """The group's cuts added since the last update, at the states already known.

        A new cut wins a state only if strictly higher, so ties stay with the older cut.
        """
        pool, seen = self.pool, self.seen_states
        new_ids = ids[np.searchsorted(ids, self.seen_cuts) :]
        self.seen_cuts = pool.size
        if new_ids.size == 0 or seen == 0:
            return
        new_best, new_value = dominating_cuts(
            _rows(pool.intercepts, new_ids), _rows(pool.coefficients, new_ids), visited[:seen]
        )
        better = new_value > self._best_value[:seen]
        np.copyto(self._best_cut[:seen], new_ids[new_best], where=better)
        np.copyto(self._best_value[:seen], new_value, where=better)

    def add_states(self, ids: np.ndarray, visited: np.ndarray) -> None:
        """The states visited since the last update, against every cut of the group."""
        seen, total = self.seen_states, visited.shape[0]
        if total == seen:
            return
        self._reserve(total)
        best_cut, best_value = self._best_cut[seen:total], self._best_value[seen:total]
        dominating_cuts(
            _rows(self.pool.intercepts, ids), _rows(self.pool.coefficients, ids), visited[seen:],
            out=(best_cut, best_value),
        )
        best_cut[:] = ids[best_cut]  # group positions to pool ids
        self.seen_states = total

    def _reserve(self, n_states: int) -> None:
        capacity = self._best_cut.shape[0]
        if n_states <= capacity:
            return
        capacity = max(n_states, 2 * capacity, 64)
        for name in ("_best_cut", "_best_value"):
            old = getattr(self, name)
            grown = np.empty(capacity, dtype=old.dtype)
            grown[: self.seen_states] = old[: self.seen_states]
            setattr(self, name, grown)


def _rows(array: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``array[ids]``, as a view when ``ids`` (ascending) is a run of consecutive rows.

    Single-cut, a group is every cut of the pool: a copy would move the whole
    pool (32 MB at 10,000 cuts of 403 states) for every stage and iteration.
    """
    if ids.size and int(ids[-1]) - int(ids[0]) + 1 == ids.size:
        return array[int(ids[0]) : int(ids[-1]) + 1]
    return array[ids]
