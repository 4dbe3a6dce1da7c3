"""The Python face of caudal: :func:`train` and :func:`deterministic_equivalent`.

The command line is a thin layer over these functions; there is one way to
train, and options arrive as keywords.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.files import CHECKPOINT_FOLDER
from caudal.checkpoint.schedule import DEFAULT_EVERY_ITERATIONS, DEFAULT_EVERY_SECONDS, DEFAULT_KEEP, CheckpointSchedule
from caudal.model.problem import CompiledProblem, Problem, ProblemError
from caudal.model.size import too_large, training_bytes
from caudal.outputs import sense_columns, write_convergence, write_summary
from caudal.parallel.blocks import block
from caudal.parallel.comm import Communicator, cores_available, launched_by_mpi, world
from caudal.parallel.pool import WorkerPool
from caudal.parallel.signals import StopSignals
from caudal.parallel.workers import make_pool, one_blas_thread
from caudal.profiling import RunProfiler, profiling_enabled
from caudal.run_folder import check_run_folders
from caudal.sddp.cuts import CutPool
from caudal.sddp.passes import default_opening_chunk
from caudal.sddp.risk import RiskMeasure, RiskSpec
from caudal.sddp.sampling import InSample, SamplingScheme, compile_for
from caudal.sddp.selection import CutSelection
from caudal.sddp.simulation import SimulationResult, simulate_policy
from caudal.sddp.stage_cache import StageCache
from caudal.sddp.stopping import StoppingRule
from caudal.sddp.training import (
    IterationRecord,
    TrainingOptions,
    TrainingState,
    pool_stats,
    run_training,
)
from caudal.sddp.warm_start import describe_warm_start, warm_start_pools
from caudal.training_log import TrainingLog, bound_name, counted

if TYPE_CHECKING:  # highspy, which the deterministic equivalent solves with, is imported when it is used
    from caudal.checkpoint.during_training import TrainingCheckpoints
    from caudal.solver.deterministic_equivalent import DeterministicEquivalentResult


@dataclass(frozen=True)
class Decision:
    """What a policy does at one stage, one incoming state and one opening (see :meth:`Policy.evaluate`).

    Costs are in the problem's own sense. ``stage_cost`` is in the stage's own
    money; ``cost_to_go`` is the cut approximation of the cost after the stage
    at the outgoing ``states`` (in the next stage's money, as
    :meth:`Policy.value` gives it); ``objective`` is the stage LP's value, the
    stage cost plus the discounted cost-to-go.
    """

    stage: int  # counted from 1
    opening: int  # counted from 1
    stage_cost: float
    cost_to_go: float
    objective: float
    states: dict[str, float]  # outgoing state values, by state name
    values: dict[str, float]  # every column of the stage LP, by name


@dataclass
class Policy:
    """A trained policy: the problem and the cuts of every stage's value function.

    Cuts of a multi-cut policy bound per-opening value columns, which only the
    multi-cut layout of the problem has. Given the problem compiled afresh (as
    a simulation from a checkpoint does), the policy switches it to that
    layout, which depends on the problem alone.

    Use it as a decision rule with :meth:`evaluate` and :meth:`value`; stages
    and openings are counted from 1 there, as in the plots and the docs.
    ``source`` says where it came from (a checkpoint, for :func:`load_policy`).
    """

    problem: CompiledProblem
    cut_pools: list[CutPool]
    source: str = ""
    _cache: StageCache | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.problem.multi_cut and any(pool.n_target_groups > 1 for pool in self.cut_pools):
            self.problem = self.problem.with_multi_cut()

    def value(self, stage: int, state: Sequence[float] | Mapping[str, float] | np.ndarray) -> float:
        """The cost-to-go after ``stage`` (counted from 1) at its outgoing ``state``, in the problem's sense.

        ``state`` holds one value per state variable, in the problem's order,
        or maps every state name to its value. This is the cut approximation
        the stage LP sees (its value-function column), in the next stage's
        money; after the last stage it is 0.
        """
        t = self._stage_index(stage)
        return float(self.cost_to_go(t, self._state_vector(state))[0])

    def evaluate(
        self, stage: int, state: Sequence[float] | Mapping[str, float] | np.ndarray, noise: int | None = None
    ) -> Decision:
        """The decision of ``stage`` (counted from 1) from incoming ``state`` under opening ``noise``.

        A decision rule, as SDDP.jl's ``DecisionRule``: the stage LP is
        solved with the incoming state fixed, the opening's data patched in and
        every cut of the stage as a row. ``noise`` is the opening's number,
        counted from 1 (``None`` for a stage with a single opening). ``state``
        is one value per state variable, in order, or a mapping by name.
        """
        t = self._stage_index(stage)
        incoming = self._state_vector(state)
        template = self.problem.templates[t]
        if noise is None:
            if template.n_openings != 1:
                raise ValueError(f"stage {stage} has {template.n_openings} openings: say which (noise=1..)")
            noise = 1
        if isinstance(noise, bool) or not isinstance(noise, int | np.integer) or not 1 <= noise <= template.n_openings:
            raise ValueError(f"stage {stage} has openings 1..{template.n_openings}, got noise={noise!r}")
        if self._cache is None:
            self._cache = StageCache(self.problem, self.cut_pools)  # every cut a row: the exact stage LP
        lp, basis = self._cache.lps[t], self._cache.bases[t].copy()
        objective = np.empty(1)
        values = np.empty((1, lp.num_cols))

        def task(ws, start: int, stop: int) -> None:
            ws.solve_detailed(lp, basis, incoming[None, :], np.array([noise - 1], np.int32),
                              np.zeros(1, np.int64), objective, values)

        pool = make_pool(1, "auto")
        try:
            pool.run(task, 0, 1)
        finally:
            pool.close()
        sign, row = self.problem.sign, values[0]
        theta = float(row[template.theta_col])
        names = template.col_names
        return Decision(
            stage=stage,
            opening=int(noise),
            stage_cost=sign * (float(objective[0]) - theta * template.discount),
            cost_to_go=sign * theta,
            objective=sign * float(objective[0]),
            states=dict(zip(self.problem.state_names, row[template.state_out_cols].tolist(), strict=True)),
            values={name: float(row[k]) for k, name in enumerate(names[: len(row)])},
        )

    def _stage_index(self, stage: int) -> int:
        """The 0-based index of ``stage`` (counted from 1), or a clear error."""
        n = self.problem.n_stages
        if isinstance(stage, bool) or not isinstance(stage, int | np.integer) or not 1 <= stage <= n:
            raise ValueError(f"stage must be 1..{n} (stages count from 1), got {stage!r}")
        return int(stage) - 1

    def _state_vector(self, state: Sequence[float] | Mapping[str, float] | np.ndarray) -> np.ndarray:
        names = self.problem.state_names
        if isinstance(state, Mapping):
            unknown = sorted(set(state) - set(names))
            missing = [name for name in names if name not in state]
            if unknown or missing:
                raise ValueError(f"state names must be exactly {list(names)}; unknown {unknown}, missing {missing}")
            return np.array([float(state[name]) for name in names])
        vector = np.asarray(state, dtype=np.float64).ravel()
        if vector.shape != (len(names),):
            raise ValueError(f"state has {vector.size} values, the problem {len(names)} states {list(names)}")
        return vector

    def cost_to_go(self, stage: int, states: np.ndarray) -> np.ndarray:
        """The cut approximation of the cost after ``stage`` at outgoing states (rows).

        In the problem's own sense and in money of stage ``stage``. Multi-cut,
        the probability-weighted sum of every opening's approximation.
        """
        template = self.problem.templates[stage]
        states = np.atleast_2d(np.asarray(states, dtype=np.float64))
        pool = self.cut_pools[stage]
        floors = template.col_lower[template.cut_cols]
        if template.n_targets == 1:
            return self.problem.sign * np.maximum(pool.evaluate(states), floors[0])
        values = np.stack([pool.evaluate(states, g) for g in range(template.n_targets)], axis=1)
        return self.problem.sign * (np.maximum(values, floors[None, :]) @ template.cut_weights)

    def simulate(self, **options) -> SimulationResult:
        """:func:`caudal.simulate` of this policy (the Cobre result tables call it so)."""
        return simulate(self, **options)

    @property
    def n_cuts(self) -> int:
        return sum(pool.size for pool in self.cut_pools)

    def digest(self) -> str:
        """A hash of every cut's bits: equal digests mean bit-identical policies."""
        import hashlib  # here: hashlib loads OpenSSL (3 MB resident), which a training does not otherwise need

        hasher = hashlib.blake2b(digest_size=16)
        for pool in self.cut_pools:
            hasher.update(np.ascontiguousarray(pool.intercepts).tobytes())
            hasher.update(np.ascontiguousarray(pool.coefficients).tobytes())
            if self.problem.multi_cut:  # single-cut digests stay what they were before multi-cut existed
                hasher.update(np.ascontiguousarray(pool.targets).tobytes())
        return hasher.hexdigest()


@dataclass
class TrainingResult:
    """What :func:`train` returns."""

    lower_bound: float
    history: list[IterationRecord]
    policy: Policy
    status: str
    wall_time: float
    solver_stats: dict[str, float]
    phase_seconds: dict[str, float]
    checkpoint: Path | None = None  # the last checkpoint written: the saved policy

    @property
    def iterations(self) -> int:
        return len(self.history)

    @property
    def bound(self) -> float:
        """The policy's bound: lower when minimising, upper when maximising."""
        return self.lower_bound

    @property
    def maximize(self) -> bool:
        return self.policy.problem.sign < 0

    @property
    def training_time(self) -> float:
        """Seconds of training, cumulative over resumes: the clock of the log, ``convergence.csv`` and ``summary.json``.

        It runs from the first iteration's start to the last iteration's
        stopping check; loading the case, the final checkpoint and writing the
        profile are outside it (``wall_time`` is this call's whole time).
        """
        return self.history[-1].time_s if self.history else 0.0

    def summary(self) -> dict:
        """``summary.json``'s figures: bound and interval named by the sense, the interval NaN below 30 passes."""
        last = self.history[-1]
        return {
            "sense": "maximize" if self.maximize else "minimize",
            "bound": self.lower_bound,
            **dict(zip(sense_columns(self.maximize)[1:5], (self.lower_bound, last.upper_bound_mean,
                                                          last.upper_bound_low, last.upper_bound_high), strict=True)),
            "iterations": self.iterations,
            "time_s": self.training_time,
            "lp_solves": last.lp_solves,
            "status": self.status,
            "cuts": self.policy.n_cuts,
            "policy_digest": self.policy.digest(),
            "phase_seconds": self.phase_seconds,
        }


def simulate(
    policy: Policy | TrainingResult,
    *,
    scenarios: int = 100,
    seed: int = 0,
    sampling: SamplingScheme | None = None,
    variables: Sequence[str] = (),
    duals: Sequence[str] = (),
    everything: bool = False,
    threads: int | None = None,
    output: str | os.PathLike | None = None,
    solver: str = "auto",
    every_cut_a_row: bool = False,
    comm: Communicator | None = None,
) -> SimulationResult:
    """Simulate a trained policy on ``scenarios`` sampled scenarios.

    Per scenario and stage the result holds the stage cost, the discounted
    cost-to-go, the states, the values of the named ``variables`` and the duals
    of the named constraints (``duals``); with ``everything``, also every
    column's value and the dual of every row of the stage's own
    (``.values[t]``, ``.row_duals[t]``). ``.summary()`` gives the mean, std and
    quantiles of the total cost. With ``output``, written as Parquet
    (``simulation/``, partitioned by blocks of scenarios) with a summary JSON.
    Out-of-sample or historical ``sampling`` needs a policy trained from a
    problem compiled with the same scheme.

    The result is the same whatever the ranks and threads. ``solver`` is as
    in :func:`train`; ``every_cut_a_row`` solves the stage LPs with every cut
    as a row instead of adding the cuts each solve violates (the reference:
    same values, slower).
    """
    policy = policy.policy if isinstance(policy, TrainingResult) else policy
    comm = comm or world()
    with abort_on_error(comm), one_blas_thread():
        pool = _rank_pool(threads, solver, comm)
        try:
            result = simulate_policy(
                policy.problem, policy.cut_pools, pool, scenarios, seed=seed, sampling=sampling,
                variables=variables, duals=duals, everything=everything, every_cut_a_row=every_cut_a_row, comm=comm,
            )
        finally:
            pool.close()
        if output is not None and comm.rank == 0:
            result.write(Path(output))
    return result


def load_policy(
    run_or_checkpoint_dir: str | os.PathLike, problem: Problem | CompiledProblem | None = None
) -> Policy:
    """The policy saved in a run folder's newest valid checkpoint, without training again.

    The cuts need their problem. Without ``problem``, the case the checkpoint
    records is looked up as a CASE of the command line (an embedded case or a
    Cobre case directory by its name, a Python file by its path), built with
    the checkpoint's stage count; give ``problem`` for any other case. A
    checkpoint written for other problem data is refused with
    :class:`~caudal.checkpoint.CheckpointError` (its fingerprint differs).

    A checkpoint directory is read stage file by stage file straight into the
    pools (the cuts are held once, not decoded whole and then copied); one
    whose stage file does not verify is skipped, naming the file, for the
    previous checkpoint, as a damaged single file is.
    """
    from caudal.checkpoint.during_training import checkpoint_directory
    from caudal.checkpoint.policy_load import load_newest_policy

    def problem_for(checkpoint) -> CompiledProblem:
        chosen = problem if problem is not None else _recorded_case(checkpoint)
        return chosen if isinstance(chosen, CompiledProblem) else chosen.compile()

    loaded = load_newest_policy(checkpoint_directory(run_or_checkpoint_dir), problem_for)
    return Policy(loaded.problem, loaded.pools, source=str(loaded.checkpoint.path))


def _recorded_case(checkpoint) -> Problem:
    """The problem of the case a checkpoint names, built as the command line builds it; else a clear error."""
    from caudal.cases import BadCase, resolve_case

    name, stages = checkpoint.case.name, checkpoint.case.n_stages
    try:
        case = resolve_case(name)
        return case.build() if case.kind == "cobre" else case.build(stages)
    except BadCase as error:
        raise CheckpointError(
            checkpoint.path,
            f"cannot find its case {name!r} ({error}); pass it: caudal.load_policy(path, problem=...)",
            "fingerprint",
        ) from None


def deterministic_equivalent(
    problem: Problem | CompiledProblem, risk_measure: RiskMeasure | None = None
) -> DeterministicEquivalentResult:
    """Solve the whole scenario tree as one LP (small problems only); see ``.objective``.

    With ``risk_measure`` (Expectation, CVaR or EAVaR, at every stage) the LP is
    the nested risk-averse equivalent, with CVaR in its LP form at every node.
    """
    from caudal.solver.deterministic_equivalent import deterministic_equivalent as solve

    return solve(problem, risk_measure)


def train(
    problem: Problem | CompiledProblem,
    *,
    iterations: int,
    forward_passes: int = 1,
    seed: int = 0,
    threads: int | None = None,
    time_limit: float | None = None,
    output: str | os.PathLike | None = None,
    log: bool | TextIO = False,
    solver: str = "auto",
    risk_measure: RiskSpec = None,
    stopping_rules: Sequence[StoppingRule] = (),
    stop_when: str = "any",
    cut_selection: CutSelection | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = DEFAULT_EVERY_ITERATIONS,
    checkpoint_seconds: float | None = DEFAULT_EVERY_SECONDS,
    keep_checkpoints: int = DEFAULT_KEEP,
    resume: str | os.PathLike | None = None,
    handle_signals: bool = False,
    on_error: str = "abort",
    comm: Communicator | None = None,
    sampling: SamplingScheme | None = None,
    profile: bool | None = None,
    trace_iteration: int | None = None,
    multi_cut: bool = False,
    warm_start: Policy | TrainingResult | None = None,
    opening_chunk: int | str = 0,
    overwrite: bool = False,
) -> TrainingResult:
    """Train a policy by SDDP.

    Parameters
    ----------
    problem:
        The problem to train, from the :class:`~caudal.Problem` API.
    iterations:
        Iteration limit.
    forward_passes:
        Forward passes (scenarios, trial states) per iteration.
    seed:
        The scenario of forward pass ``k`` in iteration ``i`` depends only on
        ``(seed, i, k)``: the same seed gives the same cuts and bounds whatever
        the number of threads.
    threads:
        Worker threads per process (default: the cores this process may use,
        shared out among the ranks of its node).
    time_limit:
        Stop after the iteration during which this many seconds have passed.
    output:
        A directory to write ``convergence.csv``, ``summary.json`` and (unless
        ``checkpoint_dir`` says otherwise) ``checkpoints/`` into.
    log:
        ``True`` prints the training log on standard output; a text stream
        prints it there. Whatever ``log`` says, every line also goes to the
        ``logging`` logger ``"caudal"`` (level INFO) on rank 0, for a
        program's own handlers; with such a handler, ``log=False`` avoids
        seeing the lines twice.
    solver:
        ``"native"`` (the Cython kernel), ``"highspy"`` (the reference path) or
        ``"auto"`` (native when built).
    risk_measure:
        How the backward pass weighs a stage's openings: ``caudal.Expectation()``
        (default), ``caudal.CVaR(alpha)``, ``caudal.EAVaR(lam, alpha)``, a list
        with one per stage, or a function of the stage index.
    stopping_rules:
        More reasons to stop before the iteration limit: ``caudal.BoundStalling``,
        ``caudal.StatisticalGap``, ``caudal.SimulationStalling`` or your own.
        The iteration and time limits always apply.
    stop_when:
        ``"any"``: the first rule that holds stops the run; ``"all"``: all must hold.
    cut_selection:
        ``caudal.Level1()`` or ``caudal.LimitedMemoryLevel1()`` (each with an
        optional ``max_active`` per stage): cuts that are highest at no visited
        state leave the stage LPs, so they stay small over long runs.
    checkpoint_dir:
        Where to write checkpoints (default: ``OUTPUT/checkpoints`` when
        ``output`` is given, else none). The last one written is the trained
        policy, for ``caudal simulate --policy``.
    checkpoint_every, checkpoint_seconds:
        Write a checkpoint every this many iterations and/or seconds (``None``
        turns a criterion off); one is always written when training ends.
    keep_checkpoints:
        How many checkpoints to keep (older ones are deleted once a newer one is
        safely on disk).
    resume:
        A run or checkpoint directory: continue from its newest valid
        checkpoint, exactly as if the run had never stopped (the iteration and
        time limits, threads and ranks may differ; the case and the options that
        shape the policy may not).
    overwrite:
        A training refuses an ``output`` or ``checkpoint_dir`` holding an
        earlier run's files (:class:`caudal.run_folder.RunFolderNotEmpty`, a
        ``ValueError``), except the run a ``resume`` continues; ``True``
        deletes those files first (only files caudal writes).
    handle_signals:
        Treat SIGTERM and SIGUSR1 (a batch system's notice before the walltime)
        as a request to stop within seconds, dropping an unfinished iteration,
        checkpoint the last complete one and return with status ``"interrupted"``. The command line turns this on.
    on_error:
        ``"abort"`` (default): on a multi-rank run, an exception on one rank
        ends the whole job at once, since the other ranks would otherwise wait
        forever in their next collective. ``"raise"``: the exception reaches
        the caller on this rank only, and the caller answers for the other
        ranks; ``caudal sweep`` uses it to report a failed variant and go on.
    sampling:
        How forward passes pick scenarios: ``caudal.InSample()`` (default: the
        openings), ``caudal.OutOfSample(tables)`` or ``caudal.Historical(scenarios)``.
    comm:
        The ranks that train this problem together (default: every rank of the
        job, or this process alone when not launched by MPI); ``caudal sweep``
        passes a group of ranks.
    profile:
        Write ``profile.parquet`` into ``output``: time per phase, rank and
        thread, solver counters and memory, per iteration (``caudal profile``
        reads it). Default: on when ``output`` is given, unless the environment
        says ``CAUDAL_PROFILE=0``. Its cost is well under 1% of an iteration.
    trace_iteration:
        Also write ``trace.json`` (Chrome / Perfetto trace, one track per rank
        and thread) of this iteration (1-based); needs ``output``.
    multi_cut:
        One value-function column per opening of the next stage, each with its
        own cuts (one per trial state and opening), instead of one column with
        one averaged cut per trial state. The LPs keep every opening's
        linearisation, so the bound rises in fewer iterations, but each
        iteration adds ``openings`` times as many cut rows: it pays with few
        openings and many states (see ``benchmarks/multicut.py``). Needs the
        expectation as risk measure (see ``TrainingOptions.stage_risks``), and
        ``value_bound`` must bound every opening's cost-to-go, not only their mean.
    warm_start:
        Start from the cuts of an earlier policy (:func:`load_policy`, or a
        :class:`TrainingResult`) instead of none: the same case, or the same
        state names with a horizon at least as long or other openings. Stages
        map by index; stages beyond the old horizon start empty. The cuts stay
        valid lower bounds only if the new future costs no less than the old
        one (see :mod:`caudal.sddp.warm_start`); mismatched state names, sense
        or a shorter horizon are refused. The checkpoints record the warm
        start; a resume continues from its own cuts and takes no ``warm_start``.
    opening_chunk:
        Split each backward trial state's openings into work items of this
        many openings, so that one forward pass keeps every worker busy; 0 (the
        default) keeps each trial state one work item; ``"auto"`` splits a
        stage of at least 10 openings into two halves
        (:func:`caudal.sddp.passes.default_opening_chunk`), and the lower
        bound's openings alike. Each chunk starts from the trial state's
        forward basis (a split in two: the second half from the basis of the
        forward opening, which the first half solves first), so the cuts
        depend on this option (it is fingerprinted) but not on the number of
        ranks or threads. Worth it when there are fewer trial states than
        workers: on 4ree with one forward pass, 2 workers took 0.89 of 1
        worker's time with ``"auto"`` (docs/hot-path.md).
    """
    compiled = compile_for(problem, sampling)
    if warm_start is not None and resume is not None:
        raise ValueError("warm_start and resume exclude each other: a resumed run already holds its warm-start cuts")
    options = TrainingOptions(
        iterations=iterations,
        forward_passes=forward_passes,
        seed=seed,
        time_limit=time_limit,
        risk_measure=risk_measure,
        stopping_rules=tuple(stopping_rules),
        stop_when=stop_when,
        cut_selection=cut_selection,
        sampling=sampling or InSample(),
        multi_cut=multi_cut,
        opening_chunk=opening_chunk,
    )
    options.stage_risks(compiled.n_stages)  # refuses a risk measure multi-cut cannot express, before any work
    _check_iteration_fits(compiled, forward_passes)
    if multi_cut:
        compiled = compiled.with_multi_cut()
    warm_pools = None
    if warm_start is not None:
        warm = warm_start.policy if isinstance(warm_start, TrainingResult) else warm_start
        warm_pools = warm_start_pools(compiled, warm.problem, warm.cut_pools)  # refuses before any work
        warm_text = describe_warm_start(warm.source or "a policy in memory", warm.digest(), warm.cut_pools)
    comm = comm or world()
    # a folder belongs to one run (caudal.run_folder); a resume may write into the run it continues
    check_run_folders(output, checkpoint_dir, overwrite=overwrite, comm=comm, resumed=resume)
    if on_error not in ("abort", "raise"):
        raise ValueError(f"on_error must be 'abort' or 'raise', got {on_error!r}")
    guard = abort_on_error(comm) if on_error == "abort" else nullcontext()
    with guard, StopSignals() if handle_signals else nullcontext() as signals, ExitStack() as cleanup:
        cleanup.enter_context(one_blas_thread())
        pool = _rank_pool(threads, solver, comm)
        cleanup.callback(pool.close)  # also when an error comes before the training (close is idempotent)
        profiler = None
        if profiling_enabled(profile, output, trace_iteration):  # profiling: wraps the pool, times the phases
            profiler = RunProfiler(pool, comm, options, trace_iteration)
            pool = profiler.pool
        logger = _logger(log, iterations, compiled.sign < 0) if comm.rank == 0 else None
        if logger is not None:
            cleanup.callback(logger.detach)  # a failed training (a second Ctrl-C) leaves no handler nor bar behind
        layout = _layout_lines(compiled, options, pool, comm)
        if logger is not None:
            logger.header(layout)
        started = time.perf_counter()
        if resume is not None:
            from caudal.checkpoint.during_training import resume_state  # checkpoint machinery: on use only

            state, path, warnings = resume_state(resume, compiled, options, comm)
            if logger is not None:
                started_from = [f"the run was warm-started from {state.warm_start}"] if state.warm_start else []
                logger.note([*warnings, f"resuming from {path} after iteration {state.iteration}", *started_from])
        elif warm_pools is not None:
            state = TrainingState.fresh(compiled, comm, pools=warm_pools, warm_start=warm_text)
            if logger is not None:
                logger.note([f"warm start from {warm_text}"])
        else:
            state = TrainingState.fresh(compiled, comm)
        if profiler is not None:
            profiler.start(state)
        checkpoints = _checkpoints(checkpoint_dir, output, options, checkpoint_every, checkpoint_seconds,
                                   keep_checkpoints, comm, pool.size)
        callbacks: list = []
        if logger is not None:
            callbacks.append(lambda s: logger(s.history[-1]))
        if checkpoints is not None:
            callbacks.append(checkpoints if profiler is None else profiler.timed("checkpoint", checkpoints))
        if profiler is not None:
            callbacks.append(profiler)
        try:
            status = run_training(
                state, pool, options, callbacks, comm, interrupt=signals.requested if signals else None,
                on_phase=profiler.on_phase if profiler is not None else None,
            )
        finally:
            pool.close()
        if checkpoints is not None:
            with profiler.phase("checkpoint") if profiler is not None else nullcontext():
                checkpoints.write(state)
        if profiler is not None:
            profiler.finish(Path(output) if output is not None else None)
        wall_time = time.perf_counter() - started
        result = TrainingResult(
            lower_bound=state.history[-1].lower_bound if state.history else math.nan,
            history=state.history,
            policy=Policy(compiled, state.pools),
            status=status,
            wall_time=wall_time,
            solver_stats=pool_stats(pool).as_dict(),
            phase_seconds=dict(state.phase_seconds),
            checkpoint=checkpoints.last_written if checkpoints is not None else None,
        )
        if checkpoints is not None:
            result.phase_seconds["checkpoint"] = checkpoints.seconds
        if logger is not None:
            logger.close(_footer_lines(result, signals.name if signals else ""))
        if output is not None and comm.rank == 0:
            write_outputs(Path(output), result)
    return result


def _check_iteration_fits(problem: CompiledProblem, forward_passes: int) -> None:
    """Refuse forward passes whose states and bases of one iteration would not fit in memory."""
    rows = max(t.num_rows for t in problem.templates)
    cols = max(t.num_cols for t in problem.templates)
    needed = training_bytes(problem.n_stages, problem.n_states, rows, cols, forward_passes)
    message = too_large(f"{forward_passes} forward passes over {problem.n_stages} stages", needed)
    if message is not None:
        raise ProblemError(message)


def _rank_pool(threads: int | None, solver: str, comm: Communicator) -> WorkerPool:
    """This rank's worker pool: ``threads`` workers (default: its share of the node's cores, which its
    waiting threads may spin on)."""
    own_cores = default_threads(comm)
    return make_pool(own_cores if threads is None else threads, solver, own_cores)


def default_threads(comm: Communicator) -> int:
    """The cores this process may use, shared out among the ranks of its node.

    A launcher that binds ranks (srun --cpus-per-task, mpiexec --bind-to)
    gives each rank its own cores; one that does not lets every rank see all
    of them, and they must not each start a thread per core.
    """
    cores = cores_available()
    return max(1, cores // comm.node_size) if comm.node_size > 1 else cores


def _checkpoints(
    directory, output, options, every, seconds, keep, comm: Communicator, threads: int
) -> TrainingCheckpoints | None:
    if directory is None and output is not None:
        directory = Path(output) / CHECKPOINT_FOLDER
    if directory is None:
        return None
    from caudal.checkpoint.during_training import TrainingCheckpoints  # FlatBuffers, OpenSSL: only when writing

    schedule = CheckpointSchedule(every_iterations=every, every_seconds=seconds)
    return TrainingCheckpoints(Path(directory), options, schedule, keep, comm, threads)


@contextmanager
def abort_on_error(comm: Communicator) -> Iterator[None]:
    """On a multi-rank run, an error on one rank ends the whole job at once.

    Otherwise the other ranks would wait forever in their next collective. The
    failing rank prints its error once, with its rank number, then aborts.
    """
    try:
        yield
    except BaseException as exc:
        if comm.size > 1 and not isinstance(exc, SystemExit):
            print(f"caudal: rank {comm.rank} of {comm.size} failed: {type(exc).__name__}: {exc}",
                  file=sys.stderr, flush=True)
            comm.abort(1)
        raise


def write_outputs(directory: Path, result: TrainingResult) -> None:
    """Write ``convergence.csv`` and ``summary.json`` into ``directory``."""
    write_convergence(directory / "convergence.csv", result.history, maximize=result.maximize)
    write_summary(directory / "summary.json", result.summary())


def _logger(log: bool | TextIO, iterations: int, maximize: bool) -> TrainingLog:
    """The training's log: always to the ``caudal`` logger; also to the terminal (or ``log``'s stream) if ``log``.

    Under a launcher, standard output is its forwarding, a pty under Open MPI even
    when the job's output goes to a file or a pipe: a progress bar would land
    there, in the middle of the log lines, so there is none.
    """
    terminal = log is not False and log is not None
    return TrainingLog(iterations, stream=log if terminal and log is not True else None, maximize=maximize,
                       terminal=terminal, progress=False if launched_by_mpi() else None)


def _layout_lines(
    problem: CompiledProblem, options: TrainingOptions, pool: WorkerPool, comm: Communicator
) -> Sequence[str]:
    templates = problem.templates
    openings = sorted({t.n_openings for t in templates})
    opening_text = str(openings[0]) if len(openings) == 1 else f"{openings[0]}..{openings[-1]}"
    return [
        f"caudal: training {problem.name!r}: {problem.n_stages} stages, {problem.n_states} states, "
        f"{opening_text} openings per stage, largest stage LP {max(t.num_rows for t in templates)} rows x "
        f"{max(t.num_cols for t in templates)} columns",
        f"layout: {counted(comm.size, 'rank')} x {counted(pool.size, 'thread')} = "
        f"{counted(comm.size * pool.size, 'worker')}; {comm.describe()}",
        f"solver {pool.solver_name}; {counted(options.forward_passes, 'forward pass', 'forward passes')} per "
        f"iteration, seed {options.seed}"
        + ("; multi-cut (one value column per next-stage opening)" if options.multi_cut else "")
        + (f"; openings split: {options.opening_chunk}" if options.opening_chunk != 0 else ""),
        *_idle_threads_hint(options, pool.size, comm.size, openings[-1]),
    ]


def _idle_threads_hint(options: TrainingOptions, threads: int, ranks: int, openings: int) -> list[str]:
    """A line saying how to keep every thread busy when a rank has fewer trial states than threads.

    The split is not automatic: it changes the cuts (each chunk starts from
    the trial state's forward basis), and the cuts must not depend on the
    number of threads.
    """
    first, stop = block(options.forward_passes, ranks, 0)  # rank 0's share, the largest
    passes_per_rank = stop - first
    if options.opening_chunk != 0 or threads <= passes_per_rank or default_opening_chunk(openings) == 0:
        return []
    return [
        f"hint: {counted(passes_per_rank, 'forward pass', 'forward passes')} per rank for "
        f"{counted(threads, 'thread')}: threads wait in the backward pass; --opening-chunk auto "
        "(opening_chunk='auto') splits each trial state's openings between two of them"
    ]


def _footer_lines(result: TrainingResult, signal_name: str) -> list[str]:
    reason = f" ({signal_name} received)" if signal_name else ""
    lines = [
        f"status: {result.status}{reason} after {counted(result.iterations, 'iteration')} in "
        f"{result.training_time:.2f}s of training; {bound_name(result.maximize)} {result.lower_bound:.6f}"
    ]
    if result.checkpoint is not None:
        lines.append(f"checkpoint: {result.checkpoint}")
    return lines
