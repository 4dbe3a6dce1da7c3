"""Simulating a trained policy: what it does, scenario by scenario and stage by stage.

This is caudal's one simulator: ``caudal.simulate``, ``caudal simulate`` and the
Cobre result tables (:mod:`caudal.hydro.cobre.results`) all read its output.

Scenarios are dealt like forward passes: to ranks in contiguous blocks, then
to each rank's threads, and each worker walks its scenarios through every
stage with the solver's ``solve_detailed`` work item. Scenario ``k`` is drawn
from a stream keyed by ``(seed, k)``, apart from training's, and every solve
starts from its stage's canonical basis, so the result is the same whatever the
layout; the ranks' parts are gathered in scenario order.

A policy carries no visited states, so the simulation finds its own
(:mod:`caudal.sddp.working_set`): a *pilot* first simulates the first
``PILOT`` scenarios on the stage LPs with every cut as a row, and each stage's
working set becomes the cuts highest at one of the pilot's outgoing states.
The simulation proper then solves LPs that hold those few cuts as rows and
every other cut in reserve: after each solve the cuts its solution violates
are added and the LP solved again, hot, until none is. So every solve has the
optimal value of the LP with every cut as a row (``every_cut_a_row=True``
solves that LP throughout, the reference), and the pilot is the same whatever
the layout, so the working sets are too. (A pilot with every cut in reserve
costs more: its first solves add nearly every cut. On brazil4, 120 stages and
1,000 cuts per stage, a pilot of 4 scenarios beat 8 and 16:
``benchmarks/simulation.py``.)

What is kept per (scenario, stage): the stage cost, the cost-to-go, the
outgoing states, the values of the named variables and the duals of the named
constraints, or, with ``everything``, every column value and every row dual of
the stage's own rows (the Cobre tables need them all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from caudal.model.problem import CompiledProblem
from caudal.parallel.blocks import block
from caudal.parallel.comm import Communicator, SingleProcessCommunicator
from caudal.parallel.pool import WorkerPool
from caudal.sddp.cuts import CutPool, StateArchive
from caudal.sddp.passes import discount_factors
from caudal.sddp.sampling import SIMULATION, SamplingScheme, ScenarioSampler
from caudal.sddp.shared_stage_cache import make_stage_cache
from caudal.sddp.stage_cache import StageCache
from caudal.sddp.working_set import WorkingSets
from caudal.solver.workspace import SolverWorkspace

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
BLOCK = 500
"""Scenarios per Parquet partition: a 2,000-scenario run is 4 partitions."""
CHUNK = 256
"""Scenarios a worker walks through the stages together: bounds its scratch arrays, not the results."""
PILOT = 4
"""Scenarios of the pilot whose outgoing states choose the working sets."""

@dataclass
class SimulationResult:
    """Arrays indexed [scenario, stage, ...], costs and duals in the problem's own sense."""

    stage_costs: np.ndarray  # [N, T], each in its own stage's money
    future_costs: np.ndarray  # [N, T]: discount x cost-to-go estimate after the stage
    discounted_costs: np.ndarray  # [N, T]: stage cost in first-stage money
    states: np.ndarray  # [N, T, n_states]
    variables: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [N, T] (NaN where absent)
    duals: dict[str, np.ndarray] = field(default_factory=dict)  # constraint name -> [N, T]
    state_names: tuple[str, ...] = ()
    openings: np.ndarray | None = None  # [N, T]: patch row used per stage
    costs_to_go: np.ndarray | None = None  # [N, T]: the cost-to-go column's value, in the next stage's money
    discount: np.ndarray | None = None  # [T]: factor turning stage t's money into first-stage money
    values: list[np.ndarray] | None = None  # with everything: per stage float64[N, num_cols]
    row_duals: list[np.ndarray] | None = None  # with everything: per stage float64[N, stage rows]

    @property
    def total_costs(self) -> np.ndarray:
        return self.discounted_costs.sum(axis=1)

    def summary(self) -> dict[str, float]:
        totals = self.total_costs
        out = {"scenarios": int(totals.size), "mean": float(totals.mean()),
               "std": float(totals.std(ddof=1)) if totals.size > 1 else 0.0}
        for q in QUANTILES:
            out[f"q{int(q * 100):02d}"] = float(np.quantile(totals, q))
        return out

    def table(self):
        """A pyarrow table, one row per scenario and stage."""
        import pyarrow as pa

        n, stages = self.stage_costs.shape
        columns = {
            "scenario": np.repeat(np.arange(1, n + 1), stages),  # counted from 1, like stages
            "stage": np.tile(np.arange(1, stages + 1), n),  # counted from 1, as in the docs and plots
            "block": np.repeat(np.arange(n) // BLOCK, stages),
            "stage_cost": self.stage_costs.ravel(),
            "future_cost": self.future_costs.ravel(),
            "discounted_cost": self.discounted_costs.ravel(),
        }
        for i, name in enumerate(self.state_names):
            columns[f"state:{name}"] = self.states[:, :, i].ravel()
        for name, values in self.variables.items():
            columns[f"var:{name}"] = values.ravel()
        for name, values in self.duals.items():
            columns[f"dual:{name}"] = values.ravel()
        return pa.table(columns)

    def write(self, directory: Path) -> Path:
        """``simulation/`` (Parquet, partitioned by blocks of scenarios) and ``simulation_summary.json``."""
        import json

        import pyarrow.parquet as pq

        directory = Path(directory)
        target = directory / "simulation"
        if target.exists():
            import shutil

            shutil.rmtree(target)
        # One file per block, written on this thread. pyarrow's write_to_dataset
        # scans a numpy-backed table on its own thread pool, whose last buffer can
        # be released while the interpreter exits, which aborts the process.
        table = self.table()
        blocks = table.column("block").to_numpy()
        table = table.drop_columns(["block"])
        starts = np.flatnonzero(np.diff(blocks, prepend=-1))
        ends = np.append(starts[1:], len(blocks))
        target.mkdir(parents=True)
        for start, end in zip(starts, ends, strict=True):
            part = target / f"block={int(blocks[start])}"
            part.mkdir(parents=True)
            pq.write_table(table.slice(start, end - start), part / "part-0.parquet")
        (directory / "simulation_summary.json").write_text(json.dumps(self.summary(), indent=2) + "\n")
        return target


def check_names(problem: CompiledProblem, variables: Sequence[str], duals: Sequence[str]) -> None:
    """Raise ``ValueError`` naming a variable or constraint that no stage has, and listing the valid ones.

    A name that some stage has is recorded (NaN at the stages without it); a
    name no stage has is a typo, which would otherwise give a column of NaN.
    """
    for kind, wanted, known in (("variable", variables, {n for t in problem.templates for n in t.col_names}),
                                ("constraint", duals, {n for t in problem.templates for n in t.row_names})):
        unknown = [name for name in wanted if name not in known]
        if unknown:
            valid = sorted(known)
            import difflib  # here: only a misspelt name needs it

            close = difflib.get_close_matches(unknown[0], valid, n=3)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            shown = ", ".join(valid[:40]) + (f" and {len(valid) - 40} more" if len(valid) > 40 else "")
            raise ValueError(f"no {kind} named {', '.join(map(repr, unknown))} in any stage{hint}; "
                             f"the {kind}s are: {shown}")


@dataclass(frozen=True)
class _Lookups:
    """Where stage ``t`` keeps the named variables and constraints (-1 where it has none)."""

    var_cols: list[np.ndarray]  # per stage int64[n_vars]
    dual_rows: list[np.ndarray]  # per stage int64[n_duals]

    @classmethod
    def of(cls, problem: CompiledProblem, variables: Sequence[str], duals: Sequence[str]) -> _Lookups:
        def positions(names: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
            index = {name: i for i, name in enumerate(names)}
            return np.array([index.get(name, -1) for name in wanted], dtype=np.int64)

        check_names(problem, variables, duals)
        return cls(
            [positions(t.col_names, variables) for t in problem.templates],
            [positions(t.row_names, duals) for t in problem.templates],
        )


def simulate_policy(
    problem: CompiledProblem,
    pools: list[CutPool],
    pool: WorkerPool,
    scenarios: int,
    *,
    seed: int = 0,
    sampling: SamplingScheme | None = None,
    variables: Sequence[str] = (),
    duals: Sequence[str] = (),
    everything: bool = False,
    every_cut_a_row: bool = False,
    comm: Communicator | None = None,
) -> SimulationResult:
    """Simulate the policy of cut ``pools`` on ``scenarios`` scenarios (see the module docstring).

    Every rank returns the whole result, the same whatever the ranks and threads.
    """
    comm = comm or SingleProcessCommunicator()
    sampler = ScenarioSampler(problem, seed, sampling, purpose=SIMULATION)
    if every_cut_a_row:
        cache = make_stage_cache(problem, pools, comm)
    else:
        pilot_cache = make_stage_cache(problem, pools, comm)  # every cut a row
        pilot = _simulate(problem, pilot_cache, pool, sampler, min(scenarios, PILOT), (), (), False, comm)
        _close(pilot_cache)
        visited = []
        for t in range(problem.n_stages):
            archive = StateArchive(problem.n_states, max(1, pilot.states.shape[0]))
            archive.add(pilot.states[:, t])
            visited.append(archive)
        cache = make_stage_cache(problem, pools, comm, WorkingSets(visited))
    try:
        return _simulate(problem, cache, pool, sampler, scenarios, variables, duals, everything, comm)
    finally:
        _close(cache)


def _close(cache: StageCache) -> None:
    """Free a node-shared cache's window (a private cache has nothing to free)."""
    close = getattr(cache, "close", None)
    if close is not None:
        close()


def _simulate(
    problem: CompiledProblem,
    cache: StageCache,
    pool: WorkerPool,
    sampler: ScenarioSampler,
    scenarios: int,
    variables: Sequence[str],
    duals: Sequence[str],
    everything: bool,
    comm: Communicator,
) -> SimulationResult:
    """Simulate the policy held in ``cache`` on scenarios ``0 .. scenarios - 1`` of ``sampler``."""
    first, stop = block(scenarios, comm.size, comm.rank)
    rows = np.ascontiguousarray(sampler.scenarios(0, range(first, stop)).T)  # int32[T, n_own]
    ids = np.arange(first, stop, dtype=np.int64)
    n_own, n_stages, n_states = stop - first, problem.n_stages, problem.n_states
    lookups = _Lookups.of(problem, variables, duals)
    lps, bases = list(cache.lps), list(cache.bases)
    # stage-major while solving: each worker writes contiguous rows
    objective = np.empty((n_stages, n_own))
    theta = np.empty((n_stages, n_own))
    states = np.empty((n_stages, n_own, n_states))
    named_values = np.full((n_stages, n_own, len(variables)), np.nan)
    named_duals = np.full((n_stages, n_own, len(duals)), np.nan)
    all_values = [np.empty((n_own, lp.num_cols)) for lp in lps] if everything else None
    all_duals = [np.empty((n_own, lp.template.num_rows)) for lp in lps] if everything else None
    initial = np.broadcast_to(problem.initial_state, (n_own, n_states))

    def task(ws: SolverWorkspace, start: int, end: int) -> None:
        for lo in range(start, end, CHUNK):
            hi = min(end, lo + CHUNK)
            incoming = np.ascontiguousarray(initial[lo:hi])
            for t, lp in enumerate(lps):
                template = lp.template
                cols, duals_at = lookups.var_cols[t], lookups.dual_rows[t]
                if everything:
                    values, row_duals = all_values[t][lo:hi], all_duals[t][lo:hi]
                else:
                    values = np.empty((hi - lo, lp.num_cols))
                    row_duals = np.empty((hi - lo, template.num_rows)) if (duals_at >= 0).any() else None
                ws.solve_detailed(lp, bases[t], incoming, rows[t, lo:hi], ids[lo:hi], objective[t, lo:hi], values,
                                  row_duals)
                theta[t, lo:hi] = values[:, template.theta_col]
                states[t, lo:hi] = values[:, template.state_out_cols]
                present = cols >= 0
                named_values[t, lo:hi][:, present] = values[:, cols[present]]
                present = duals_at >= 0
                if present.any():
                    named_duals[t, lo:hi][:, present] = row_duals[:, duals_at[present]]
                incoming = states[t, lo:hi]

    pool.run(task, 0, n_own)
    gather = comm.allgather_rows

    def scenario_major(stage_major: np.ndarray) -> np.ndarray:
        return gather(np.ascontiguousarray(np.swapaxes(stage_major, 0, 1)))

    sign = problem.sign
    discount = discount_factors(problem)
    stage_discounts = np.array([t.discount for t in problem.templates])
    theta_all = scenario_major(theta)
    future = theta_all * stage_discounts[None, :]
    stage_costs = scenario_major(objective) - future
    return SimulationResult(
        stage_costs=sign * stage_costs,
        future_costs=sign * future,
        discounted_costs=sign * stage_costs * discount[None, :],
        states=scenario_major(states),
        variables={v: values for v, values in zip(variables, np.moveaxis(scenario_major(named_values), 2, 0),
                                                   strict=True)},
        duals={d: sign * values for d, values in zip(duals, np.moveaxis(scenario_major(named_duals), 2, 0),
                                                     strict=True)},
        state_names=problem.state_names,
        openings=gather(np.ascontiguousarray(rows.T)),
        costs_to_go=sign * theta_all,
        discount=discount,
        values=None if all_values is None else [gather(v) for v in all_values],
        row_duals=None if all_duals is None else [sign * gather(d) for d in all_duals],
    )
