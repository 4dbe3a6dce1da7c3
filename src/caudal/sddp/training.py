"""The SDDP training loop.

One iteration: forward passes (sampled scenarios, upper-bound estimate), the
backward pass stage by stage (one averaged cut per trial state, added in
canonical order), the lower bound from the first stage, then the stopping
checks. The loop talks to solvers only through the worker pool and reports
progress only through callbacks; it knows nothing of files or the terminal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from caudal.model.problem import CompiledProblem
from caudal.parallel.pool import WorkerPool
from caudal.sddp.cuts import CutPool
from caudal.sddp.passes import backward_stage, first_stage_bound, forward_pass
from caudal.sddp.sampling import InSampleSampler
from caudal.sddp.stage_cache import StageCache
from caudal.solver.workspace import SolverStats

Z_95 = 1.959963984540054
"""Two-sided 95% quantile of the standard normal, for the upper-bound interval."""


@dataclass(frozen=True)
class IterationRecord:
    """One row of the convergence history, in the problem's own sense."""

    iteration: int
    lower_bound: float
    upper_bound_mean: float
    upper_bound_low: float
    upper_bound_high: float
    time_s: float  # wall time since training started
    lp_solves: int  # LP solves since training started

    @property
    def gap(self) -> float:
        """Relative distance between the bound and the simulated cost."""
        scale = max(abs(self.upper_bound_mean), 1e-10)
        return abs(self.upper_bound_mean - self.lower_bound) / scale


@dataclass(frozen=True)
class TrainingOptions:
    """Options of a training run. Those that change the policy are fingerprinted."""

    iterations: int
    forward_passes: int = 1
    seed: int = 0
    time_limit: float | None = None

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")
        if self.forward_passes < 1:
            raise ValueError(f"forward_passes must be at least 1, got {self.forward_passes}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time_limit must be positive, got {self.time_limit}")


@dataclass
class TrainingState:
    """Everything a training needs to go on: cuts, bases, history."""

    problem: CompiledProblem
    pools: list[CutPool]
    cache: StageCache
    history: list[IterationRecord] = field(default_factory=list)
    iteration: int = 0  # iterations completed

    @classmethod
    def fresh(cls, problem: CompiledProblem) -> TrainingState:
        pools = [CutPool(problem.n_states) for _ in range(problem.n_stages)]
        return cls(problem, pools, StageCache(problem, pools))


IterationCallback = Callable[[IterationRecord], None]


def run_training(
    state: TrainingState,
    pool: WorkerPool,
    options: TrainingOptions,
    callbacks: Sequence[IterationCallback] = (),
) -> str:
    """Train until a stopping rule holds; returns the status that stopped it."""
    problem = state.problem
    sampler = InSampleSampler(problem, options.seed)
    started = time.perf_counter()
    solves_before = _total_solves(pool)
    elapsed_before = state.history[-1].time_s if state.history else 0.0
    solves_offset = state.history[-1].lp_solves if state.history else 0
    status = "iteration_limit"
    while state.iteration < options.iterations:
        i = state.iteration
        scenarios = sampler.scenarios(i, options.forward_passes)
        forward = forward_pass(problem, state.cache, pool, scenarios)
        for t in range(problem.n_stages - 1, 0, -1):
            intercepts, coefficients, basis = backward_stage(state.cache, pool, t, forward.states[t - 1])
            state.pools[t - 1].add(intercepts, coefficients, i, np.arange(options.forward_passes))
            state.cache.refresh(t - 1)
            if basis is not None:
                state.cache.set_basis(t, basis)
        bound, basis = first_stage_bound(state.cache, pool, problem.initial_state)
        state.cache.set_basis(0, basis)
        state.iteration += 1
        solves = solves_offset + _total_solves(pool) - solves_before
        record = _record(problem, state.iteration, bound, forward.costs, started, elapsed_before, solves)
        state.history.append(record)
        for callback in callbacks:
            callback(record)
        if options.time_limit is not None and record.time_s - elapsed_before >= options.time_limit:
            status = "time_limit"
            break
    return status


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
    mean = float(costs.mean())
    half = Z_95 * float(costs.std(ddof=1)) / math.sqrt(costs.size) if costs.size > 1 else 0.0
    low, high = sorted((sign * (mean - half), sign * (mean + half)))
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
