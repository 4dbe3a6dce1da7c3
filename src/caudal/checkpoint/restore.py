"""Checkpoint to training state: the resume.

The restored state must make the next iteration exactly what it would have been
in a run that never stopped: same cuts (same bits, same order, same activity),
same canonical bases (they decide the simplex path, hence the bits of every
dual), same history. The RNG needs nothing beyond the seed and the iteration
(scenarios are keyed by ``(seed, iteration, forward pass)``).

A checkpoint of another case, or written with options that change the policy,
is refused with a message saying what differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from caudal.checkpoint.contents import Checkpoint, SavedCutPool
from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.fingerprint import (
    OPTIONS_FREE_TO_CHANGE,
    case_differences,
    case_fingerprint,
    options_differences,
    options_fingerprint,
)
from caudal.checkpoint.stage_files import DeferredCheckpoint
from caudal.checkpoint.streamed_restore import restore_streamed
from caudal.model.problem import CompiledProblem
from caudal.parallel.comm import Communicator, SingleProcessCommunicator
from caudal.sddp.cuts import CutPool, StateArchive, pool_comm
from caudal.sddp.shared_stage_cache import make_stage_cache
from caudal.sddp.stage_cache import StageCache, realign_basis
from caudal.sddp.training import TrainingOptions, TrainingState
from caudal.sddp.working_set import WorkingSets
from caudal.solver.workspace import Basis


def saved_policy_options(checkpoint: Checkpoint) -> dict[str, str]:
    """The fingerprinted options of the run that wrote ``checkpoint``, as canonical text."""
    saved = {"forward_passes": str(checkpoint.options.forward_passes), "seed": str(checkpoint.options.seed)}
    saved.update((name, text) for name, text in checkpoint.options.extra.items() if name not in OPTIONS_FREE_TO_CHANGE)
    return saved


def _case_problem(checkpoint: Checkpoint, problem: CompiledProblem) -> str | None:
    """Why the checkpoint does not fit ``problem``, or None if it does."""
    if case_fingerprint(problem) == checkpoint.case_fingerprint:
        return None
    case = checkpoint.case
    differences = case_differences(case.state_names, case.sign, case.initial_state, case.stage_digests, problem)
    return (
        f"case fingerprint mismatch: the checkpoint was written for another case "
        f"(saved {case.name!r}, this is {problem.name!r}): "
        + "; ".join(differences or ["the problem data differ (no detail available)"])
    )


def check_compatible(checkpoint: Checkpoint, problem: CompiledProblem, options: TrainingOptions) -> None:
    """Raise a ``fingerprint`` :class:`CheckpointError` unless the checkpoint fits this case and options."""
    problems = []
    case_problem = _case_problem(checkpoint, problem)
    if case_problem is not None:
        problems.append(case_problem)
    if options_fingerprint(options, problem.n_stages) != checkpoint.options_fingerprint:
        differences = options_differences(saved_policy_options(checkpoint), options, problem.n_stages) or [
            "the options that change the policy differ (no detail available)"
        ]
        problems.append("options fingerprint mismatch: " + "; ".join(differences))
    if problems:
        free = ", ".join(sorted(OPTIONS_FREE_TO_CHANGE))
        raise CheckpointError(
            checkpoint.path,
            "cannot resume: " + ". ".join(problems) + f" (only {free} may change on resume)",
            "fingerprint",
        )


def rebuild_pool(saved: SavedCutPool, comm: Communicator | None = None) -> CutPool:
    """A :class:`CutPool` with exactly the saved cuts, bits, order and activity.

    Held over ``comm`` (node-shared under MPI, see :func:`~caudal.sddp.cuts.pool_comm`;
    collective on its node then), else private.
    """
    pool = CutPool(saved.n_states, capacity=max(64, saved.n_cuts), comm=comm)
    if saved.n_cuts:
        pool.add(saved.intercepts, saved.dense_coefficients(), saved.iteration, saved.forward_pass, saved.target)
        pool.set_active(saved.active)
    return pool


def restore_pools(checkpoint: Checkpoint, problem: CompiledProblem, *, threads: int = 2) -> list[CutPool]:
    """The cut pools of ``checkpoint``, for using a trained policy (simulation) without resuming.

    Only the case must match: the options of the run that trained the policy
    do not matter to someone who only evaluates it. ``threads`` stages are
    copied at once (numpy's copies release the GIL).
    """
    case_problem = _case_problem(checkpoint, problem)
    if case_problem is not None:
        raise CheckpointError(checkpoint.path, "cannot use this policy: " + case_problem, "fingerprint")
    if isinstance(checkpoint, DeferredCheckpoint):
        return restore_streamed(checkpoint.stage_files, SingleProcessCommunicator()).pools
    return _rebuild_in_threads(checkpoint.cut_pools, threads)


def _rebuild_in_threads(saved: Sequence[SavedCutPool], threads: int) -> list[CutPool]:
    """Private pools of ``saved``, a few stages at a time: the copies release the GIL."""
    if threads <= 1 or len(saved) <= 1:
        return [rebuild_pool(pool) for pool in saved]
    with ThreadPoolExecutor(max_workers=min(threads, len(saved)), thread_name_prefix="restore") as executor:
        return list(executor.map(rebuild_pool, saved))


def restore_state(
    checkpoint: Checkpoint,
    problem: CompiledProblem,
    options: TrainingOptions,
    comm: Communicator | None = None,
) -> TrainingState:
    """The training state saved in ``checkpoint``, for ``problem`` and ``options``.

    With a ``comm``, the stage cache is built as the training loop builds it
    (``make_stage_cache``: node-shared under MPI), so every rank must call this;
    without one it is a private :class:`StageCache`.

    Refuses (``CheckpointError`` of kind ``fingerprint``) a checkpoint of another
    case or of options that change the policy. The returned state owns copies
    of every array, so the checkpoint (and its file mapping) may be dropped.
    Load it into fresh solver workspaces: stage LP versions restart at 1.

    A checkpoint directory opened for a resume (a
    :class:`~caudal.checkpoint.stage_files.DeferredCheckpoint`) is read
    stage file by stage file straight into the pools, by one rank per node
    (:mod:`caudal.checkpoint.streamed_restore`); a stage file that does not
    verify raises a :class:`CheckpointError` naming it, on every rank.
    """
    check_compatible(checkpoint, problem, options)
    if checkpoint.rng_seed != options.seed or checkpoint.rng_next_iteration != checkpoint.iteration:
        raise CheckpointError(
            checkpoint.path,
            f"inconsistent RNG state: seed {checkpoint.rng_seed}, next iteration "
            f"{checkpoint.rng_next_iteration}, after {checkpoint.iteration} iterations",
            "payload",
        )
    shared = pool_comm(comm)
    if isinstance(checkpoint, DeferredCheckpoint):
        stages = restore_streamed(checkpoint.stage_files, shared, comm)
        pools, visited, bases = stages.pools, stages.visited, stages.bases
    else:
        pools = _rebuild_pools(checkpoint.cut_pools, shared)
        visited = _rebuild_archives(checkpoint.visited_states, problem.n_states, shared)
        bases = list(checkpoint.bases)
    for t, (pool, template) in enumerate(zip(pools, problem.templates, strict=True)):
        if pool.size and int(pool.targets.max()) >= template.n_targets:
            raise CheckpointError(
                checkpoint.path,
                f"stage {t}: the saved cuts bound {int(pool.targets.max()) + 1} value-function columns, "
                f"the problem's layout has {template.n_targets} (multi-cut differs)",
                "payload",
            )
    # the visited states come back before the stage LPs: their working sets are chosen from them
    working_sets = WorkingSets(visited)
    cache = (
        StageCache(problem, pools, working_sets) if comm is None
        else make_stage_cache(problem, pools, comm, working_sets)
    )
    for t, (saved, pool) in enumerate(zip(bases, pools, strict=True)):
        lp = cache.lps[t]
        ids = np.asarray(saved.cut_ids, dtype=np.int64)
        if (saved.row_status.size != lp.template.num_rows + ids.size or np.any(np.diff(ids) <= 0)
                or (ids.size and (ids[0] < 0 or ids[-1] >= pool.size))):
            raise CheckpointError(
                checkpoint.path,
                f"stage {t}: the saved basis has {saved.row_status.size} rows for cuts {_ids(ids)} "
                f"of a pool of {pool.size}",
                "payload",
            )
        if saved.col_status.size != lp.num_cols:
            raise CheckpointError(
                checkpoint.path,
                f"stage {t}: the saved basis has {saved.col_status.size} columns, the LP {lp.num_cols}",
                "payload",
            )
        basis = Basis(saved.col_status.copy(), saved.row_status.copy())
        if not np.array_equal(lp.cut_ids, ids):
            # written by a caudal whose stage LPs held other rows (every active cut,
            # before working sets): carried over like a basis after a refresh
            basis = realign_basis(basis, ids, lp)
        cache.set_basis(t, basis)
    state = TrainingState(
        problem=problem,
        pools=pools,
        cache=cache,
        history=checkpoint.history.records(),
        iteration=checkpoint.iteration,
        visited=visited,
        warm_start=checkpoint.warm_start,
    )
    return state


def _rebuild_pools(saved: Sequence[SavedCutPool], shared: Communicator) -> list[CutPool]:
    """Pools of a checkpoint decoded whole (a single file): copied in, on threads when private."""
    if isinstance(shared, SingleProcessCommunicator):  # private pools: independent copies, so on threads
        return _rebuild_in_threads(saved, 2)
    return [rebuild_pool(pool, shared) for pool in saved]  # node-shared: collective, every rank in order


def _rebuild_archives(saved: Sequence[np.ndarray], n_states: int, shared: Communicator) -> list[StateArchive]:
    """Visited-state archives of a checkpoint decoded whole: cut selection decides from them, so exactly."""
    archives = [StateArchive(n_states, comm=shared) for _ in saved]
    for archive, rows in zip(archives, saved, strict=True):
        archive.add(np.array(rows))
    return archives


def _ids(ids: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:8])
    return f"[{shown}{', ...' if ids.size > 8 else ''}] ({ids.size})"
