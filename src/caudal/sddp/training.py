"""The SDDP training loop.

One iteration: forward passes (sampled scenarios, upper-bound estimate), the
backward pass stage by stage (one averaged cut per trial state, or multi-cut
one cut per trial state and opening, added in canonical order), the lower
bound from the first stage, then the stopping checks. The loop talks to
solvers only through the worker pool and reports progress only through
callbacks; it knows nothing of files or the terminal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from caudal.model.problem import CompiledProblem
from caudal.parallel.blocks import block
from caudal.parallel.comm import Communicator, SingleProcessCommunicator
from caudal.parallel.pool import WorkerPool
from caudal.sddp.cuts import CutPool, StateArchive, pool_comm
from caudal.sddp.free_heap import return_free_heap
from caudal.sddp.interruptible import IterationUndo, backward_in_blocks, forward_in_blocks
from caudal.sddp.opening_order import opening_tours, tour_chains
from caudal.sddp.passes import backward_stage, first_stage_bound, forward_pass
from caudal.sddp.records import IterationRecord, simulated_interval
from caudal.sddp.risk import Expectation, RiskMeasure, RiskSpec, per_stage
from caudal.sddp.sampling import SIMULATION, InSample, SamplingScheme, ScenarioSampler
from caudal.sddp.selection import CutSelection
from caudal.sddp.shared_stage_cache import make_stage_cache
from caudal.sddp.stage_cache import StageCache
from caudal.sddp.stopping import (
    IterationLimit,
    StopContext,
    StoppingRule,
    TimeLimit,
    check_rules,
    first_that_stops,
)
from caudal.sddp.working_set import WorkingSets
from caudal.solver.workspace import Basis, SolverStats


@dataclass(frozen=True)
class TrainingOptions:
    """Options of a training run. Those that change the policy are fingerprinted."""

    iterations: int
    forward_passes: int = 1
    seed: int = 0
    time_limit: float | None = None
    risk_measure: RiskSpec = None
    stopping_rules: tuple[StoppingRule, ...] = ()
    stop_when: str = "any"
    cut_selection: CutSelection | None = None
    sampling: SamplingScheme = InSample()
    multi_cut: bool = False
    # openings per backward work item; 0: all of a trial state's; "auto": passes.default_opening_chunk of each stage
    opening_chunk: int | str = 0

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")
        if self.forward_passes < 1:
            raise ValueError(f"forward_passes must be at least 1, got {self.forward_passes}")
        if not 0 <= self.seed < 2**64:  # the random streams and checkpoints hold 64 bits
            raise ValueError(f"seed must be a non-negative 64-bit integer, got {self.seed}")
        if self.opening_chunk != "auto" and not (isinstance(self.opening_chunk, int) and self.opening_chunk >= 0):
            raise ValueError(
                f"opening_chunk must be 0 (no split, the default), 'auto' (the split of "
                f"passes.default_opening_chunk) or positive, got {self.opening_chunk!r}"
            )
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time_limit must be positive, got {self.time_limit}")
        if self.stop_when not in ("any", "all"):
            raise ValueError(f"stop_when must be 'any' or 'all', got {self.stop_when!r}")
        check_rules(self.stopping_rules)

    def stage_risks(self, n_stages: int) -> list[RiskMeasure]:
        """The risk measure of every stage; multi-cut accepts only the expectation.

        A multi-cut stage LP prices the cost-to-go as ``sum_o p_o theta_o`` with
        the probabilities fixed in a row of the LP. A risk measure weighs the
        openings with weights that depend on their values (CVaR puts them all
        on the worst ``alpha`` fraction), so a different change of measure at
        every state: the fixed row would silently train the risk-neutral
        policy. Doing it right needs the measure's LP form (for CVaR an
        ``eta`` column and a tail column per opening) in every stage LP, which
        caudal does not build; single-cut applies the weights in each cut instead.
        """
        measures = per_stage(self.risk_measure, n_stages)
        if self.multi_cut:
            other = [(t, m) for t, m in enumerate(measures) if not isinstance(m, Expectation)]
            if other:
                t, measure = other[0]
                raise ValueError(
                    f"multi_cut=True needs the expectation at every stage, stage {t} has {measure!r}: "
                    "per-opening value columns are combined with fixed probabilities, which cannot "
                    "express a risk measure; train risk-averse policies with multi_cut=False"
                )
        return measures

    def limits(self) -> list[StoppingRule]:
        """The hard limits, which apply whatever the other rules say."""
        limits: list[StoppingRule] = [IterationLimit(self.iterations)]
        if self.time_limit is not None:
            limits.append(TimeLimit(self.time_limit))
        return limits


@dataclass
class TrainingState:
    """Everything a training needs to go on: cuts, bases, history."""

    problem: CompiledProblem
    pools: list[CutPool]
    cache: StageCache
    history: list[IterationRecord] = field(default_factory=list)
    iteration: int = 0  # iterations completed
    phase_seconds: dict[str, float] = field(default_factory=dict)  # this process's time per phase
    visited: list[StateArchive] = field(default_factory=list)  # trial states of every stage
    warm_start: str = ""  # where the cuts the run started from came from ("" for none): kept in checkpoints

    def __post_init__(self) -> None:
        if not self.visited:
            self.visited = [StateArchive(self.problem.n_states) for _ in range(self.problem.n_stages)]

    @classmethod
    def fresh(
        cls,
        problem: CompiledProblem,
        comm: Communicator | None = None,
        working_sets: bool = True,
        pools: list[CutPool] | None = None,
        warm_start: str = "",
    ) -> TrainingState:
        """A training with no cuts yet, or with the warm-start ``pools`` (:mod:`caudal.sddp.warm_start`).

        ``working_sets=False`` makes every active cut a row of its stage LP
        instead of a working set (:mod:`caudal.sddp.working_set`), for
        comparisons (``benchmarks/working_sets.py``); a resumed run always uses
        working sets.
        """
        comm = comm or SingleProcessCommunicator()
        # what loading and compiling the case freed goes back to the system before the pools and LPs are
        # allocated: 40 MB of the resident set on the national case (caudal.sddp.free_heap)
        return_free_heap()
        shared = pool_comm(comm)  # the node's ranks hold one copy of the pools and archives
        warm_pools, pools = pools, [CutPool(problem.n_states, comm=shared) for _ in range(problem.n_stages)]
        for pool, warm in zip(pools, warm_pools or (), strict=False):  # warm-start cuts enter the node's pools
            if warm.size:
                pool.add(warm.intercepts, warm.coefficients, warm.iteration, warm.forward_pass, warm.targets)
                if not warm.active.all():
                    pool.set_active(warm.active)
        visited = [StateArchive(problem.n_states, comm=shared) for _ in range(problem.n_stages)]
        sets = WorkingSets(visited) if working_sets else None
        return cls(problem, pools, make_stage_cache(problem, pools, comm, sets), visited=visited,
                   warm_start=warm_start)


IterationCallback = Callable[["TrainingState"], None]
"""Called on every rank after each iteration, with the state (its last history row is the iteration's)."""

PhaseHook = Callable[[str, float, float], None]
"""``hook(phase, start, end)``: told of every timed phase as it ends (``time.perf_counter`` seconds)."""


def run_training(
    state: TrainingState,
    pool: WorkerPool,
    options: TrainingOptions,
    callbacks: Sequence[IterationCallback] = (),
    comm: Communicator | None = None,
    interrupt: Callable[[], bool] | None = None,
    on_phase: PhaseHook | None = None,
) -> str:
    """Train until a stopping rule holds; returns the status that stopped it.

    Every rank calls this with the same state. Forward passes (and so trial
    states) are dealt to ranks in contiguous blocks; the cuts of all ranks are
    gathered in forward-pass order, so every rank adds the same cuts to the
    same pools and the run is bit-identical whatever the number of ranks.

    ``interrupt()`` is asked after each iteration, and inside one between
    blocks of forward passes and of backward trial states; when it holds on any
    rank, every rank stops with status ``"interrupted"``. Inside an iteration,
    the ranks agree after the forward pass and after each backward stage, and
    the unfinished iteration is undone (:mod:`caudal.sddp.interruptible`): the
    state is then the last complete iteration's, which is what a checkpoint
    must hold for a resumed run to match an uninterrupted one. ``on_phase``
    sees each phase's start and end, for the profiler (:mod:`caudal.profiling`).
    """
    comm = comm or SingleProcessCommunicator()
    problem = state.problem
    risks = options.stage_risks(problem.n_stages)
    if options.multi_cut != problem.multi_cut:
        raise ValueError(
            f"options.multi_cut is {options.multi_cut} but the problem is in the "
            f"{'multi' if problem.multi_cut else 'single'}-cut layout; use problem.with_multi_cut() for multi-cut"
        )
    sampler = ScenarioSampler(problem, options.seed, options.sampling)
    first, stop = block(options.forward_passes, comm.size, comm.rank)
    own_passes = np.arange(first, stop)
    all_passes = np.arange(options.forward_passes)
    started = time.perf_counter()
    solves_before = _total_solves(pool)
    elapsed_before = state.history[-1].time_s if state.history else 0.0
    solves_offset = state.history[-1].lp_solves if state.history else 0
    limits = options.limits()
    clock = PhaseClock(state.phase_seconds, on_phase)
    tours = opening_tours(problem.templates)  # stages with the same openings share one tour
    chains = tour_chains(tours)  # each tour's rotations, taken once: an order is a row lookup

    def simulate(n_scenarios: int, seed: int) -> np.ndarray:
        return simulate_costs(state, pool, comm, n_scenarios, seed)

    # A request standing before the first iteration (a SIGTERM while the case loaded) lets that iteration
    # finish, so that the run leaves a checkpoint to resume from; later ones are answered inside iterations.
    standing = interrupt is not None and interrupt()
    first_iteration = state.iteration

    def asked() -> bool:
        if interrupt is None or (standing and state.iteration == first_iteration):
            return False
        return interrupt()

    def agreed_to_stop(undo: IterationUndo, gave_up: bool) -> bool:
        """Whether any rank was asked to stop (collective: every rank votes); if so, the iteration is undone.

        ``gave_up``: this rank left its pass unfinished, having been asked.
        """
        if interrupt is None:
            return False  # nothing can ask: no vote, so a run without signals pays no collective for it
        with clock("communication"):
            stop = _any_rank(comm, gave_up or asked())
        if stop:
            undo.undo()
        return stop

    status = first_that_stops(limits, [], "any", StopContext(state.history, 0.0, simulate)) if state.history else None
    while status is None:
        i = state.iteration
        undo = IterationUndo(state.pools, state.visited, state.cache)
        with clock("forward"):
            scenarios = sampler.scenarios(i, own_passes)
            if interrupt is None:
                forward = forward_pass(problem, state.cache, pool, scenarios, first_pass=first, keep_bases=True)
            else:
                forward = forward_in_blocks(problem, state.cache, pool, scenarios, first, asked)
        if agreed_to_stop(undo, forward is None):
            status = "interrupted"
            break
        with clock("communication"):
            costs = comm.allgather_rows(forward.costs)
            trial_states = comm.allgather_rows(forward.states.transpose(1, 0, 2))  # [M, T, n]
        for t in range(problem.n_stages):
            state.visited[t].add(trial_states[:, t])
        for t in range(problem.n_stages - 1, 0, -1):
            with clock("backward"):
                starts = forward.start_bases(t, state.cache.lps[t], state.cache.bases[t])
                forward.release_stage(t)  # its old LP goes now (the start bases hold what they carry from it)
                orders = chains[t].orders(scenarios[:, t])
                stage_options = {"risk": risks[t], "multi_cut": options.multi_cut,
                                 "opening_chunk": options.opening_chunk}
                if interrupt is None:
                    cuts = backward_stage(state.cache, pool, t, forward.states[t - 1], first_trial=first,
                                          start_bases=starts, orders=orders, **stage_options)
                else:
                    cuts = backward_in_blocks(state.cache, pool, t, forward.states[t - 1], first, starts, orders,
                                              asked, **stage_options)
            if agreed_to_stop(undo, cuts is None):
                status = "interrupted"
                break
            intercepts, coefficients, basis = cuts
            with clock("communication"):
                intercepts = comm.allgather_rows(intercepts)
                coefficients = comm.allgather_rows(coefficients)
                basis = _share_basis(comm, basis, state.cache, t)
            with clock("cache"):
                _add_cuts(state.pools[t - 1], intercepts, coefficients, i + 1, all_passes)  # 1-based, as logged
                if options.cut_selection is not None:
                    undo.before_selection(t - 1)
                    mask = options.cut_selection.select(t - 1, state.pools[t - 1], state.visited[t - 1].states)
                    state.pools[t - 1].set_active(mask)
                state.cache.refresh(t - 1)
                state.cache.set_basis(t, basis)
        if status is not None:  # stopped inside the backward pass
            break
        with clock("bound"):  # rank 0 alone, so LP counts do not depend on the layout
            bound, basis = (
                first_stage_bound(state.cache, pool, problem.initial_state, risks[0], tours[0],
                                  options.opening_chunk)
                if comm.rank == 0
                else (0.0, None)
            )
        with clock("communication"):
            bound = _from_rank0(comm, bound)
            state.cache.set_basis(0, _share_basis(comm, basis, state.cache, 0))
        state.iteration += 1
        local_solves = np.array([_total_solves(pool) - solves_before], dtype=np.int64)
        solves = solves_offset + int(comm.allreduce_sum(local_solves)[0])
        record = _record(problem, state.iteration, bound, costs, started, elapsed_before, solves)
        state.history.append(record)
        for callback in callbacks:
            callback(state)
        with clock("stopping"):
            context = StopContext(state.history, _agreed_elapsed(comm, started), simulate)
            status = first_that_stops(limits, options.stopping_rules, options.stop_when, context)
            if status is None and _any_rank(comm, interrupt() if interrupt is not None else False):
                status = "interrupted"
    return status


def _add_cuts(
    pool: CutPool, intercepts: np.ndarray, coefficients: np.ndarray, iteration: int, passes: np.ndarray
) -> None:
    """Add one backward step's cuts in canonical order: forward pass, then (multi-cut) opening.

    Multi-cut, ``intercepts`` is float64[M, O] and cut ``(k, o)`` targets opening ``o``'s column.
    """
    if intercepts.ndim == 1:
        pool.add(intercepts, coefficients, iteration, passes)
        return
    n_passes, n_open = intercepts.shape
    pool.add(
        intercepts.reshape(-1),
        coefficients.reshape(n_passes * n_open, -1),
        iteration,
        np.repeat(passes, n_open),
        np.tile(np.arange(n_open), n_passes),
    )


def simulate_costs(
    state: TrainingState, pool: WorkerPool, comm: Communicator, n_scenarios: int, seed: int
) -> np.ndarray:
    """Total cost (problem's sense) of the current policy on ``n_scenarios`` sampled scenarios.

    The scenarios come from their own random stream, apart from training's, and
    are dealt to ranks like forward passes.
    """
    problem = state.problem
    sampler = ScenarioSampler(problem, seed, InSample(), purpose=SIMULATION)
    first, stop = block(n_scenarios, comm.size, comm.rank)
    scenarios = sampler.scenarios(0, range(first, stop))
    forward = forward_pass(problem, state.cache, pool, scenarios, first_pass=first)
    return problem.sign * comm.allgather_rows(forward.costs)


class PhaseClock:
    """Adds the wall time of ``with clock(name):`` blocks into a dict of seconds.

    ``on_exit(name, start, end)``, if given, is told of every block as it ends.
    """

    def __init__(self, totals: dict[str, float], on_exit: PhaseHook | None = None):
        self.totals = totals
        self.on_exit = on_exit
        self._name = ""
        self._start = 0.0

    def __call__(self, name: str) -> PhaseClock:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc_info) -> None:
        end = time.perf_counter()
        self.totals[self._name] = self.totals.get(self._name, 0.0) + end - self._start
        if self.on_exit is not None:
            self.on_exit(self._name, self._start, end)


def _share_basis(comm: Communicator, basis: Basis | None, cache: StageCache, t: int) -> Basis:
    """The new canonical basis of stage ``t``: the one rank 0 found at trial state 0."""
    if comm.size == 1:
        assert basis is not None
        return basis
    if basis is None:
        basis = Basis.slack(cache.lps[t])
    comm.bcast_into(basis.col_status, root=0)
    comm.bcast_into(basis.row_status, root=0)
    return basis


def _from_rank0(comm: Communicator, value: float) -> float:
    buffer = np.array([value])
    comm.bcast_into(buffer, root=0)
    return float(buffer[0])


def _any_rank(comm: Communicator, flag: bool) -> bool:
    """Whether ``flag`` holds on any rank."""
    return bool(comm.allreduce_sum(np.array([1 if flag else 0], dtype=np.int64))[0] > 0)


def _agreed_elapsed(comm: Communicator, started: float) -> float:
    """Elapsed seconds as rank 0 sees them, so every rank stops at the same iteration."""
    elapsed = np.array([time.perf_counter() - started])
    comm.bcast_into(elapsed, root=0)
    return float(elapsed[0])


def _record(
    problem: CompiledProblem,
    iteration: int,
    bound: float,
    costs: np.ndarray,
    started: float,
    elapsed_before: float,
    lp_solves: int,
) -> IterationRecord:
    sign = problem.sign
    mean, low, high = simulated_interval(costs)
    low, high = (low, high) if math.isnan(low) else sorted((sign * low, sign * high))
    return IterationRecord(
        iteration=iteration,
        lower_bound=sign * bound,
        upper_bound_mean=sign * mean,
        upper_bound_low=low,
        upper_bound_high=high,
        time_s=elapsed_before + time.perf_counter() - started,
        lp_solves=lp_solves,
    )


def _total_solves(pool: WorkerPool) -> int:
    return sum(ws.stats.solves for ws in pool.workspaces)


def pool_stats(pool: WorkerPool) -> SolverStats:
    """The sum of every workspace's counters."""
    total = SolverStats()
    for ws in pool.workspaces:
        total.add(ws.stats)
    return total
