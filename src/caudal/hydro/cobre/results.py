"""Simulation results of a Cobre case as tables, written as Parquet.

The simulation itself is caudal's one simulator (:mod:`caudal.sddp.simulation`,
reached through the policy's ``simulate``, so this studies-layer module imports
nothing above the problem layer); this module maps its output, every column
value and row dual of every (scenario, stage), onto Cobre's table layout. The
same policy, seed and scenario count give the same scenarios and costs as
``caudal.simulate`` and ``caudal simulate``.

One table per kind of entity, one row per (scenario, stage[, block], entity) in that order,
with Cobre's column names where the quantity is the same: ``costs``,
``hydros``, ``thermals``, ``exchanges`` and ``buses``, and those of the
operational constraints (:mod:`caudal.hydro.cobre.results_constraints`):
``non_controllables`` and ``generic_violations``. Each is written as one
Parquet file (``costs.parquet``, ...), which pandas, polars, DuckDB and arrow
read directly; money is in each stage's own currency except ``total_cost``
(first-stage money, with ``discount_factor``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from caudal.hydro.cobre.formulation import COST_CATEGORIES, HM3_PER_M3S_HOUR, HYDRO_SLACKS, StageLayout
from caudal.hydro.cobre.results_constraints import generic_violations, non_controllables, withdrawal_columns
from caudal.hydro.cobre.study import CobreStudy
from caudal.model.problem import CompiledProblem
from caudal.parquet_files import write_table

if TYPE_CHECKING:  # pyarrow is imported by the functions that read or write Parquet
    import pyarrow as pa

Table = dict[str, np.ndarray]
TABLES = ("costs", "hydros", "thermals", "exchanges", "buses", "non_controllables", "generic_violations")


class SimulatedRuns(Protocol):
    """What the tables read of a simulation (a ``caudal.sddp.simulation.SimulationResult`` with everything kept)."""

    openings: np.ndarray  # int[S, T]: the opening each stage took
    stage_costs: np.ndarray  # float64[S, T]: each stage's own cost, in its own money
    costs_to_go: np.ndarray  # float64[S, T]: the cost-to-go at the stage's outgoing state
    discount: np.ndarray  # float64[T]: factor turning stage t's money into first-stage money
    values: list[np.ndarray]  # per stage float64[S, num_cols]: every column's value
    row_duals: list[np.ndarray]  # per stage float64[S, stage rows]: every row's dual


class PolicyLike(Protocol):
    """What the tables need of a trained policy (a :class:`caudal.Policy`)."""

    problem: CompiledProblem

    def simulate(self, *, scenarios: int, seed: int, everything: bool, threads: int | None) -> SimulatedRuns: ...


def simulate(
    study: CobreStudy, policy: PolicyLike, scenarios: int | None = None, seed: int | None = None,
    threads: int | None = None,
) -> dict[str, pa.Table]:
    """Simulate ``policy`` (trained on ``study.problem``) and return the result tables.

    ``scenarios`` defaults to the case's ``simulation.num_scenarios``, ``seed``
    to its tree seed (the simulation draws from its own stream, not training's);
    ``threads`` as in ``caudal.simulate``.
    """
    settings = study.case.settings
    scenarios = settings.simulation.scenarios if scenarios is None else scenarios
    seed = settings.training.seed if seed is None else seed
    runs = policy.simulate(scenarios=scenarios, seed=seed, everything=True, threads=threads)
    return simulation_tables(study, policy.problem, runs)


NULL_WHERE_NAN = ("evaporation_m3s",)
"""Columns whose NaN means "not modelled for this entity": written as nulls, as Cobre's output format has them."""


def simulation_tables(study: CobreStudy, problem: CompiledProblem, runs: SimulatedRuns) -> dict[str, pa.Table]:
    """The result tables of ``runs`` (simulated on ``problem``, the compiled ``study.problem``)."""
    parts: dict[str, list[Table]] = {name: [] for name in TABLES}
    for t, layout in enumerate(study.layouts):
        x, duals = runs.values[t], runs.row_duals[t]
        template = problem.templates[t]
        stage_id = study.case.stages[t].id
        parts["costs"].append(_costs(layout, template.col_cost, x, runs, t, stage_id))
        parts["hydros"].append({**_hydros(study, layout, x, duals, stage_id),
                                **withdrawal_columns(study, template.col_names, x, t)})
        parts["thermals"].append(_thermals(study, layout, x, stage_id))
        parts["non_controllables"].append(non_controllables(study, template.col_names, x, t, runs.openings[:, t]))
        parts["generic_violations"].append(generic_violations(study, template.col_names, template.col_cost, x, t))
        parts["exchanges"].append(_exchanges(study, layout, x, stage_id))
        parts["buses"].append(_buses(study, layout, x, duals, runs.openings[:, t], stage_id))
    return {name: _scenario_major({k: np.concatenate([p[k] for p in tables]) for k in tables[0]})
            for name, tables in parts.items()}


def _scenario_major(columns: Table) -> pa.Table:
    """Rows ordered by scenario, then stage (then block and entity, as built): one scenario reads in a run."""
    import pyarrow as pa

    order = np.lexsort((columns["stage_id"], columns["scenario_id"]))  # stable: keeps block and entity order
    return pa.table({name: pa.array(values[order], from_pandas=name in NULL_WHERE_NAN)
                     for name, values in columns.items()})


def write_simulation(tables: dict[str, pa.Table], directory: str | Path) -> list[Path]:
    """Write each table as ``<directory>/<name>.parquet``; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.items():
        path = directory / f"{name}.parquet"
        write_table(table, path, compression="zstd")
        paths.append(path)
    return paths


def _index(n_scenarios: int, stage_id: int, n_entities: int, n_blocks: int, ids: np.ndarray) -> Table:
    """Key columns of a (scenario, block, entity) long table, scenario-major."""
    scenario = np.repeat(np.arange(n_scenarios, dtype=np.int32), n_blocks * n_entities)
    block = np.tile(np.repeat(np.arange(n_blocks, dtype=np.int32), n_entities), n_scenarios)
    entity = np.tile(np.asarray(ids, dtype=np.int32), n_scenarios * n_blocks)
    return {"scenario_id": scenario, "stage_id": np.full(scenario.size, stage_id, np.int32), "block_id": block,
            "_entity": entity}


def _take(x: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Values of ``columns`` (shape [E, K], -1 for absent) as [S, K, E], zeros where absent."""
    values = np.where(columns >= 0, x[:, np.maximum(columns, 0)], 0.0)  # [S, E, K]
    return values.transpose(0, 2, 1)


def _flat(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values).reshape(-1)


def _named(table: Table, entity: str) -> Table:
    out = {k: v for k, v in table.items() if k != "_entity"}
    out = {"scenario_id": out.pop("scenario_id"), "stage_id": out.pop("stage_id"), "block_id": out.pop("block_id"),
           entity: table["_entity"], **out}
    return out


def _costs(layout: StageLayout, col_cost: np.ndarray, x: np.ndarray, runs: SimulatedRuns, t: int,
           stage_id: int) -> Table:
    n = x.shape[0]
    immediate = runs.stage_costs[:, t]
    table: Table = {
        "scenario_id": np.arange(n, dtype=np.int32),
        "stage_id": np.full(n, stage_id, np.int32),
        "opening": runs.openings[:, t].astype(np.int32),
        "total_cost": runs.discount[t] * immediate,
        "immediate_cost": immediate,
        "future_cost": runs.costs_to_go[:, t],
        "discount_factor": np.full(n, runs.discount[t]),
    }
    for category in COST_CATEGORIES:
        columns = np.asarray(layout.costs[category], dtype=np.int64)
        table[f"{category}_cost"] = x[:, columns] @ col_cost[columns] if columns.size else np.zeros(n)
    return table


def _hydros(study: CobreStudy, layout: StageLayout, x: np.ndarray, duals: np.ndarray, stage_id: int) -> Table:
    hydros = study.case.hydros
    n, n_hydros, n_blocks = x.shape[0], len(hydros), layout.hours.size
    table = _index(n, stage_id, n_hydros, n_blocks, np.array([h.id for h in hydros]))
    if n_hydros == 0:
        return _named(_empty(table, ("turbined_m3s",)), "hydro_id")
    turbined = _take(x, layout.turbined)
    spillage = _take(x, layout.spillage)
    outflow = turbined + spillage
    incremental = np.repeat(x[:, layout.inflow][:, None, :], n_blocks, axis=1)
    upstream = np.zeros_like(outflow)
    for u, hydro in enumerate(hydros):
        if hydro.downstream is not None:
            d = next(i for i, h in enumerate(hydros) if h.id == hydro.downstream)
            upstream[:, :, d] += outflow[:, :, u]
    stage_level = {
        "storage_initial_hm3": x[:, layout.storage_in],
        "storage_final_hm3": x[:, layout.storage_out],
        "water_value_per_hm3": -duals[:, layout.water_rows],  # the row adds water: its dual is minus the value
        "inflow_nonnegativity_slack_m3s": np.where(layout.inflow_slack >= 0, x[:, np.maximum(layout.inflow_slack, 0)],
                                                   0.0),
    }
    if layout.evaporation is not None:  # Cobre's evaporation columns (null where the plant does not evaporate)
        evaporation = np.where(layout.evaporation >= 0, x[:, np.maximum(layout.evaporation, 0)], 0.0)  # [S, H, 3]
        stage_level.update(
            evaporation_m3s=np.where(layout.evaporation[:, 0] >= 0, evaporation[:, :, 0], np.nan),
            evaporation_violation_neg_m3s=evaporation[:, :, 1],
            evaporation_violation_pos_m3s=evaporation[:, :, 2],
        )
    # The minimum storage is a hard bound (as in Cobre), so Cobre's violation column is always zero.
    stage_level["storage_violation_below_hm3"] = np.zeros_like(stage_level["storage_final_hm3"])
    hours = layout.hours[None, :, None]
    generation = turbined * layout.productivity[None, None, :]
    if layout.generation is not None and np.any(layout.generation >= 0):  # FPHA plants: their own variable
        generation = generation + _take(x, layout.generation)
    table.update(
        turbined_m3s=_flat(turbined),
        spillage_m3s=_flat(spillage),
        outflow_m3s=_flat(outflow),
        incremental_inflow_m3s=_flat(incremental),
        inflow_m3s=_flat(incremental + upstream),
        generation_mw=_flat(generation),
        generation_mwh=_flat(generation * hours),
        spillage_volume_hm3=_flat(spillage * hours * HM3_PER_M3S_HOUR),
        **({} if layout.hydro_slacks is None else {
            name: _flat(_take(x, layout.hydro_slacks[:, :, i])) for i, name in enumerate(HYDRO_SLACKS)}),
        **{k: _flat(np.repeat(v[:, None, :], n_blocks, axis=1)) for k, v in stage_level.items()},
    )
    return _named(table, "hydro_id")


def _thermals(study: CobreStudy, layout: StageLayout, x: np.ndarray, stage_id: int) -> Table:
    thermals = study.case.thermals
    n, n_blocks = x.shape[0], layout.hours.size
    table = _index(n, stage_id, len(thermals), n_blocks, np.array([th.id for th in thermals]))
    generation = _take(x, layout.thermal)
    energy = generation * layout.hours[None, :, None]
    blocks = study.case.stages[[s.id for s in study.case.stages].index(stage_id)].blocks
    cost = np.array([[study.case.bound("thermal.cost", th.id, stage_id, b.id, th.cost) for th in thermals]
                     for b in blocks]).reshape(1, len(blocks), len(thermals))  # 0.18's stage-varying costs
    table.update(generation_mw=_flat(generation), generation_mwh=_flat(energy),
                 generation_cost=_flat(energy * cost))
    return _named(table, "thermal_id")


def _exchanges(study: CobreStudy, layout: StageLayout, x: np.ndarray, stage_id: int) -> Table:
    lines = study.case.lines
    n, n_blocks = x.shape[0], layout.hours.size
    table = _index(n, stage_id, len(lines), n_blocks, np.array([line.id for line in lines]))
    direct, reverse = _take(x, layout.flow_direct), _take(x, layout.flow_reverse)
    hours = layout.hours[None, :, None]
    cost = np.array([study.case.bound("line.exchange_cost", line.id, stage_id, None, line.exchange_cost)
                     for line in lines])  # stage penalty overrides
    table.update(direct_flow_mw=_flat(direct), reverse_flow_mw=_flat(reverse), net_flow_mw=_flat(direct - reverse),
                 net_flow_mwh=_flat((direct - reverse) * hours),
                 exchange_cost=_flat((direct + reverse) * hours * cost[None, None, :]))
    return _named(table, "line_id")


def _buses(study: CobreStudy, layout: StageLayout, x: np.ndarray, duals: np.ndarray, openings: np.ndarray,
           stage_id: int) -> Table:
    buses = study.case.buses
    n, n_blocks = x.shape[0], layout.hours.size
    table = _index(n, stage_id, len(buses), n_blocks, np.array([b.id for b in buses]))
    deficit = sum(_take(x, layout.deficit[:, :, i]) for i in range(layout.deficit.shape[2]))
    excess = _take(x, layout.excess)
    load = layout.load[openings].transpose(0, 2, 1)  # [S, K, B]
    hours = layout.hours[None, :, None]
    price = duals[:, layout.bus_rows].transpose(0, 2, 1) / hours  # per MWh
    table.update(load_mw=_flat(load), load_mwh=_flat(load * hours), deficit_mw=_flat(deficit),
                 deficit_mwh=_flat(deficit * hours), excess_mw=_flat(excess), excess_mwh=_flat(excess * hours),
                 spot_price=_flat(price))
    return _named(table, "bus_id")


def _empty(table: Table, columns: tuple[str, ...]) -> Table:
    return {**table, **{c: np.zeros(0) for c in columns}}
