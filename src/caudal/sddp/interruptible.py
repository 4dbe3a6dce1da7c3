"""Stopping inside an iteration: passes run in blocks, and an abandoned iteration is undone.

An iteration of 100,000 forward passes, or a backward stage over as many trial
states, runs for minutes; a Ctrl-C or a batch system's SIGTERM must be answered
within seconds, with a checkpoint of the last *complete* iteration (a resumed
run then gives the bounds an uninterrupted one would).

So, when the training is given a stop request (:func:`caudal.sddp.training.run_training`'s
``interrupt``):

* :func:`forward_in_blocks` and :func:`backward_in_blocks` run a pass over
  blocks of passes or trial states, asking the request between blocks, and
  give up the rest of the pass when it holds. Every pass and trial state is
  solved from its own start basis whatever the block it falls in, so blocks
  change when the request is asked, never a cut or a bound. Blocks grow until
  one takes about :data:`BLOCK_SECONDS`, so small problems pay one pool call
  per few thousand passes and large ones are asked often enough.
* Every rank then votes at the safe points (after the forward pass, after each
  backward stage): all stop together when any rank was asked, so no rank waits
  in a collective the others have left.
* :class:`IterationUndo` gives the state back as it was when the iteration
  began: the cuts and visited states it appended are forgotten, the activity
  flags cut selection changed are restored, the stage LPs whose cuts changed
  are rebuilt and the canonical bases restored (a checkpoint holds them
  besides the pools).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from caudal.model.problem import CompiledProblem
from caudal.parallel.pool import WorkerPool
from caudal.sddp.cuts import CutPool, StateArchive
from caudal.sddp.passes import ForwardResult, backward_stage, forward_pass
from caudal.sddp.stage_cache import StageCache
from caudal.solver.workspace import Basis

BLOCK_SECONDS = 0.25
"""About how long a block of passes runs before the stop request is asked again."""


class BlockSizer:
    """How many items the next block holds: doubling from a few per worker while a block stays short."""

    def __init__(self, workers: int, total: int):
        self.size = max(1, 4 * workers)
        self.total = total

    def next_block(self, start: int) -> int:
        return min(self.total, start + self.size)

    def took(self, seconds: float) -> None:
        if seconds < BLOCK_SECONDS / 2:
            self.size *= 2


def forward_in_blocks(
    problem: CompiledProblem,
    cache: StageCache,
    pool: WorkerPool,
    scenarios: np.ndarray,
    first_pass: int,
    stop_requested: Callable[[], bool],
) -> ForwardResult | None:
    """:func:`~caudal.sddp.passes.forward_pass` with ``keep_bases``, in blocks; ``None`` when asked to stop."""
    sizer = BlockSizer(pool.size, scenarios.shape[0])
    parts: list[ForwardResult] = []
    start = 0
    while start < scenarios.shape[0] or not parts:
        if stop_requested():
            return None
        stop = sizer.next_block(start)
        began = time.perf_counter()
        parts.append(forward_pass(problem, cache, pool, scenarios[start:stop], first_pass + start, keep_bases=True))
        sizer.took(time.perf_counter() - began)
        start = stop
    if len(parts) == 1:
        return parts[0]
    bases = [np.concatenate([p.bases[t] for p in parts]) for t in range(problem.n_stages)]
    return ForwardResult(
        states=np.concatenate([p.states for p in parts], axis=1),
        costs=np.concatenate([p.costs for p in parts]),
        lps=parts[0].lps,
        bases=bases,
    )


def backward_in_blocks(
    cache: StageCache,
    pool: WorkerPool,
    t: int,
    trial_states: np.ndarray,
    first_trial: int,
    start_bases: Sequence[Basis],
    orders: np.ndarray,
    stop_requested: Callable[[], bool],
    **options,
) -> tuple[np.ndarray, np.ndarray, Basis | None] | None:
    """:func:`~caudal.sddp.passes.backward_stage` over blocks of trial states; ``None`` when asked to stop.

    ``options`` go to every block's call (risk, multi-cut, opening chunk). The
    canonical basis comes from the block holding trial state 0.
    """
    n_trials = trial_states.shape[0]
    sizer = BlockSizer(pool.size, n_trials)
    intercepts, coefficients, basis = [], [], None
    start = 0
    while start < n_trials or not intercepts:
        if stop_requested():
            return None
        stop = sizer.next_block(start)
        began = time.perf_counter()
        block_intercepts, block_coefficients, block_basis = backward_stage(
            cache, pool, t, trial_states[start:stop], first_trial=first_trial + start,
            start_bases=start_bases[start:stop], orders=orders[start:stop], **options,
        )
        sizer.took(time.perf_counter() - began)
        intercepts.append(block_intercepts)
        coefficients.append(block_coefficients)
        basis = basis if block_basis is None else block_basis
        start = stop
    if len(intercepts) == 1:
        return intercepts[0], coefficients[0], basis
    return np.concatenate(intercepts), np.concatenate(coefficients), basis


class IterationUndo:
    """What an iteration changes of a training state (its pools, archives and cache), to give it back.

    Taken when the iteration begins: pool and archive sizes, and the canonical
    bases (objects the cache replaces, never changes, so keeping the list is
    enough). Cut selection's changes to older cuts' flags are kept as they
    happen (:meth:`before_selection`), one stage at a time. The stage LPs are
    rebuilt rather than kept: a node-shared cache rewrites a stage's arrays in
    place (:mod:`caudal.sddp.shared_stage_cache`). The rebuilt LP has the rows
    it had, as after a resume: a working set depends only on the pool and the
    visited states (cut selection and working sets remember what they last saw
    by sizes, so they start afresh at the stages whose pools shrink).
    """

    def __init__(self, pools: list[CutPool], visited: list[StateArchive], cache: StageCache):
        self.pools, self.visited, self.cache = pools, visited, cache
        self.pool_sizes = [pool.size for pool in pools]
        self.visited_sizes = [archive.size for archive in visited]
        self.bases = list(cache.bases)
        self.active: dict[int, np.ndarray] = {}

    def before_selection(self, stage: int) -> None:
        """Keep pool ``stage``'s flags before cut selection changes them (once per iteration)."""
        if stage not in self.active:
            self.active[stage] = self.pools[stage].active[: self.pool_sizes[stage]].copy()

    def undo(self) -> None:
        """Put the state back as it was when the iteration began; every rank calls it alike."""
        changed = [t for t, pool in enumerate(self.pools) if pool.size != self.pool_sizes[t] or t in self.active]
        for stage, pool in enumerate(self.pools):
            pool.truncate(self.pool_sizes[stage])
            if stage in self.active:
                pool.set_active(self.active[stage])
        for archive, size in zip(self.visited, self.visited_sizes, strict=True):
            archive.truncate(size)
        for stage in changed:  # collective on the node for a node-shared cache: every rank has the same stages
            self.cache.refresh(stage)
        for stage, basis in enumerate(self.bases):
            self.cache.set_basis(stage, basis)  # refuses a basis whose rows do not fit the rebuilt LP
