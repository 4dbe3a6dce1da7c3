"""Simulating a trained policy: what it does, scenario by scenario and stage by stage.

Scenarios are dealt to ranks (contiguous blocks) and, within a rank, to threads,
stage by stage like forward passes; each stage solve keeps the stage cost, the
discounted cost-to-go, the outgoing states, the values of the chosen variables
and the duals of the chosen constraints. Scenario ``k`` is drawn from a stream
keyed by ``(seed, k)`` (apart from training's), so a simulation is the same
whatever the layout.
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
from caudal.sddp.passes import discount_factors
from caudal.sddp.sampling import SIMULATION, SamplingScheme, ScenarioSampler
from caudal.sddp.stage_cache import StageCache

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
BLOCK = 500
"""Scenarios per Parquet partition: a 2,000-scenario run is 4 partitions."""


@dataclass
class SimulationResult:
    """Arrays indexed [scenario, stage, ...], costs in the problem's own sense."""

    stage_costs: np.ndarray  # [N, T], each in its own stage's money
    future_costs: np.ndarray  # [N, T]: discount x cost-to-go estimate after the stage
    discounted_costs: np.ndarray  # [N, T]: stage cost in first-stage money
    states: np.ndarray  # [N, T, n_states]
    variables: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [N, T] (NaN where absent)
    duals: dict[str, np.ndarray] = field(default_factory=dict)  # constraint name -> [N, T]
    state_names: tuple[str, ...] = ()
    openings: np.ndarray | None = None  # [N, T]: patch row used per stage

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
            "scenario": np.repeat(np.arange(n), stages),
            "stage": np.tile(np.arange(stages), n),
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
        pq.write_to_dataset(self.table(), target, partition_cols=["block"])
        (directory / "simulation_summary.json").write_text(json.dumps(self.summary(), indent=2) + "\n")
        return target


def simulate_policy(
    problem: CompiledProblem,
    cache: StageCache,
    pool: WorkerPool,
    scenarios: int,
    *,
    seed: int = 0,
    sampling: SamplingScheme | None = None,
    variables: Sequence[str] = (),
    duals: Sequence[str] = (),
    comm: Communicator | None = None,
) -> SimulationResult:
    """Simulate the policy held in ``cache`` on ``scenarios`` sampled scenarios.

    ``pool`` must hold workspaces with ``solve_detailed`` (the highspy
    workspace). Every rank returns the whole result.
    """
    comm = comm or SingleProcessCommunicator()
    sampler = ScenarioSampler(problem, seed, sampling, purpose=SIMULATION)
    first, stop = block(scenarios, comm.size, comm.rank)
    rows = sampler.scenarios(0, range(first, stop))
    n_own, n_stages, n_states = stop - first, problem.n_stages, problem.n_states
    n_vars, n_duals = len(variables), len(duals)
    # one flat record per (scenario, stage): objective, theta, states, variables, duals
    width = 2 + n_states + n_vars + n_duals
    records = np.full((n_own, n_stages, width), np.nan)
    incoming = np.broadcast_to(problem.initial_state, (n_own, n_states)).copy()
    for t, template in enumerate(problem.templates):
        lp, basis = cache.lps[t], cache.bases[t]
        var_cols = [template.col_names.index(v) if v in template.col_names else -1 for v in variables]
        dual_rows = [template.row_names.index(d) if d in template.row_names else -1 for d in duals]

        def task(ws, start, stop, t=t, lp=lp, basis=basis, var_cols=var_cols, dual_rows=dual_rows,
                 template=template, incoming=incoming) -> None:
            for k in range(start, stop):
                objective, col_value, row_dual = ws.solve_detailed(lp, basis, incoming[k], int(rows[k, t]), first + k)
                record = records[k, t]
                record[0] = objective
                record[1] = col_value[template.theta_col]
                record[2 : 2 + n_states] = col_value[template.state_out_cols]
                for i, j in enumerate(var_cols):
                    if j >= 0:
                        record[2 + n_states + i] = col_value[j]
                for i, r in enumerate(dual_rows):
                    if r >= 0:
                        record[2 + n_states + n_vars + i] = row_dual[r]

        pool.run(task, 0, n_own)
        incoming = records[:, t, 2 : 2 + n_states].copy()
    everything = comm.allgather_rows(records)
    openings = comm.allgather_rows(rows)
    sign = problem.sign
    discounts = np.array([t.discount for t in problem.templates])
    future = everything[:, :, 1] * discounts[None, :]
    stage_costs = everything[:, :, 0] - future
    return SimulationResult(
        stage_costs=sign * stage_costs,
        future_costs=sign * future,
        discounted_costs=sign * stage_costs * discount_factors(problem)[None, :],
        states=everything[:, :, 2 : 2 + n_states],
        variables={v: everything[:, :, 2 + n_states + i] for i, v in enumerate(variables)},
        duals={d: sign * everything[:, :, 2 + n_states + n_vars + i] for i, d in enumerate(duals)},
        state_names=problem.state_names,
        openings=openings,
    )

