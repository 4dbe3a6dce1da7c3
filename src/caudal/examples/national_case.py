"""A national-size synthetic hydrothermal system, seeded, and the same as a Cobre case directory.

caudal's users train systems the size of the Brazilian interconnected one: about
160 hydro plants in some 20 river basins, 130 thermal plants, 4 to 5 subsystems
with interchange limits, 120 monthly stages, 3 load blocks, PAR(p) inflows and
20 openings per stage. No such case is public in a form both caudal and Cobre
read, so this module draws one from a seed, with the shape of the real thing:

* **basins** of 1 to 10 plants in cascade (a main stem, and a tributary joining
  it in the larger basins), each basin in one subsystem, with its own wet
  season; about a third of the plants are run-of-river (a pondage of days)
  beside regulating reservoirs that hold months to a year of their inflow, with
  dead storage below a priced minimum;
* turbines sized from 1 to 1.8 times the plant's natural mean flow (its own
  incremental inflow plus everything upstream), productivities of 0.15 to 1.1
  MW per m3/s (heads of about 17 to 125 m), minimum outflows at some plants;
* **PAR(p) inflows** with seasonal means and standard deviations, standardised
  AR coefficients per month and the matching residual ratio; each plant's lags
  are states of the stage LP;
* **thermal plants** with a lognormal merit order (a few with must-run minima),
  subsystem loads that grow 4% a year with a seasonal swing, shaped by load
  blocks, four deficit segments per subsystem and interchange limits on a
  spanning tree of lines plus one loop.

The system is held as a :class:`~caudal.hydro.cobre.case.Case` and formulated
by caudal's Cobre formulation, so :func:`write_national` writes a case
directory (Cobre format 0.5.x, with the opening tree in
``scenarios/noise_openings.parquet``) that both engines read as the very same
problem. Every number written is a float that JSON and Parquet carry exactly,
so the directory read back gives the in-memory problem bit for bit::

    import caudal
    problem = caudal.examples.national(hydros=12, thermals=8, stages=6)   # a small instance
    caudal.examples.write_national("runs/national", hydros=160, stages=120)  # the full case, for Cobre too

From the command line: ``python -m caudal.examples.national_case -o DIR [--hydros N ...]``
writes the directory; ``caudal train national`` trains the default system over its
first 12 stages, as every embedded case (``--stages 120`` for the whole horizon).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np

from caudal.hydro.cobre.case import (
    ArModel,
    Block,
    Bus,
    Case,
    DeficitSegment,
    Hydro,
    HydroPenalties,
    Line,
    SeriesStats,
    Settings,
    SimulationSettings,
    StageSpec,
    Thermal,
    TrainingSettings,
)
from caudal.hydro.cobre.formulation import build_problem
from caudal.hydro.cobre.inflows import resolve_inflows
from caudal.hydro.cobre.openings import generate_noise, noise_entities, write_noise_openings
from caudal.model.problem import Problem
from caudal.parquet_files import write_table

MAX_CASCADE = 10
"""Plants in the longest cascade of a basin."""

HOURS_PER_DAY = 24
BLOCKS = (("HEAVY", 0.12, 1.25), ("MEDIUM", 0.48, 1.05), ("LIGHT", 0.40, 0.85))
"""Load blocks: name, share of the stage's hours, load factor."""

DEFICIT_DEPTHS = (0.05, 0.05, 0.10)
"""Depth of the bounded deficit segments, as shares of the subsystem's mean load (the last one is unbounded)."""
DEFICIT_COSTS = (1500.0, 3200.0, 6700.0, 7600.0)

HYDRO_PENALTIES = HydroPenalties(
    spillage=0.01,
    storage_below=5000.0,
    turbined_below=500.0,
    outflow_below=2000.0,
    outflow_above=500.0,
    generation_below=1000.0,
    inflow_nonnegativity=1000.0,
)
"""One set of penalty costs for every plant (written once, in ``penalties.json``)."""

EXCESS_COST = 0.01
EXCHANGE_COST = 0.5
ANNUAL_DISCOUNT_RATE = 0.12
FIRST_MONTH = date(2027, 1, 1)
HM3_PER_M3S_MONTH = 2.6298
"""A flow of 1 m3/s for an average month (30.44 days), in hm3."""


@dataclass(frozen=True)
class NationalSize:
    """The size of a generated system; the defaults are the national one."""

    hydros: int = 160
    thermals: int = 130
    subsystems: int = 5
    stages: int = 120
    openings: int = 20
    par_order: int = 2
    blocks: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hydros", "thermals", "subsystems", "stages", "openings", "blocks"):
            if getattr(self, name) < 1:
                raise ValueError(f"national: {name} must be at least 1, got {getattr(self, name)}")
        if self.par_order < 0:
            raise ValueError(f"national: par_order must be non-negative, got {self.par_order}")
        if self.blocks > len(BLOCKS):
            raise ValueError(f"national: blocks must be 1 to {len(BLOCKS)}, got {self.blocks}")
        if self.seed < 0:
            raise ValueError(f"national: seed must be non-negative, got {self.seed}")


@dataclass(frozen=True)
class NationalSystem:
    """A generated system: the case, its opening tree (per stage float64[openings, hydros]) and its basins."""

    size: NationalSize
    case: Case
    noise: list[np.ndarray]
    basins: tuple[tuple[int, ...], ...]  # hydro ids of each basin, upstream first

    def problem(self) -> Problem:
        """The caudal problem, formulated as caudal formulates the written case directory."""
        problem, _ = build_problem(self.case, resolve_inflows(self.case), self.noise, noise_entities(self.case),
                                   name="national")
        return problem


def national(
    hydros: int = 160,
    thermals: int = 130,
    subsystems: int = 5,
    stages: int = 120,
    openings: int = 20,
    par_order: int = 2,
    blocks: int = 3,
    seed: int = 0,
) -> Problem:
    """The national-size system (or a smaller one) as a :class:`~caudal.Problem`."""
    size = NationalSize(hydros, thermals, subsystems, stages, openings, par_order, blocks, seed)
    return generate(size).problem()


def generate(size: NationalSize) -> NationalSystem:
    """Draw the system of ``size`` from its seed (the same seed, the same system, on any machine)."""
    rng = np.random.default_rng(np.random.SeedSequence([size.seed, 15]))
    stage_specs = _stages(size)
    pre_study = {-lag: _month(-lag).month - 1 for lag in range(1, size.par_order + 1)}  # season: month - 1
    basins = _basins(size.hydros, rng)
    basin_of = {h: b for b, members in enumerate(basins) for h in members}
    downstream = _cascades(basins)
    basin_bus = rng.integers(0, size.subsystems, len(basins))
    basin_bus[: min(len(basins), size.subsystems)] = np.arange(min(len(basins), size.subsystems))
    wet_month = rng.uniform(0, 12, len(basins))
    amplitude = rng.uniform(0.3, 0.7, len(basins))

    incremental = _round(rng.lognormal(math.log(250.0), 0.9, size.hydros).clip(15.0, 4000.0))
    natural = incremental.copy()  # natural mean flow: own incremental inflow plus everything upstream
    for h in _upstream_first(downstream, size.hydros):
        if downstream[h] is not None:
            natural[downstream[h]] += natural[h]
    run_of_river = rng.random(size.hydros) < 0.35
    months_of_storage = np.where(run_of_river, rng.uniform(0.01, 0.1, size.hydros), rng.uniform(1.0, 12.0, size.hydros))
    max_storage = _round((natural * HM3_PER_M3S_MONTH * months_of_storage).clip(1.0, 55000.0))
    min_storage = np.where(run_of_river, 0.0, _round(max_storage * rng.uniform(0.05, 0.3, size.hydros)))
    productivity = _round(rng.uniform(0.15, 1.1, size.hydros), 3)
    max_turbined = _round(natural * rng.uniform(1.0, 1.8, size.hydros))
    min_outflow = np.where(rng.random(size.hydros) < 0.3, _round(0.15 * natural), 0.0)
    hydro_list = tuple(
        Hydro(
            id=h, name=f"H{h:03d}", bus=int(basin_bus[basin_of[h]]), downstream=downstream[h],
            min_storage=float(min_storage[h]), max_storage=float(max_storage[h]),
            min_outflow=float(min_outflow[h]), max_outflow=math.inf, productivity=float(productivity[h]),
            min_turbined=0.0, max_turbined=float(max_turbined[h]), min_generation=0.0,
            max_generation=float(_round(productivity[h] * max_turbined[h])), penalties=HYDRO_PENALTIES,
        )
        for h in range(size.hydros)
    )
    initial_storage = {h: float(_round(max_storage[h] * rng.uniform(0.3, 0.7))) for h in range(size.hydros)}

    # inflow statistics: one seasonal profile per basin, a coefficient of variation per plant
    cv = rng.uniform(0.25, 0.5, size.hydros)
    stats_ids = sorted(pre_study) + [s.id for s in stage_specs]
    month_of = {**pre_study, **{s.id: s.season_id for s in stage_specs}}
    inflow_mean, inflow_std = {}, {}
    for h in range(size.hydros):
        b = basin_of[h]
        for stage_id in stats_ids:
            season = 1.0 + amplitude[b] * math.cos(2 * math.pi * (month_of[stage_id] - wet_month[b]) / 12)
            mean = float(_round(incremental[h] * season))
            inflow_mean[(h, stage_id)], inflow_std[(h, stage_id)] = mean, float(_round(cv[h] * mean))
    order = rng.integers(1, size.par_order + 1, size.hydros) if size.par_order else np.zeros(size.hydros, int)
    ar_models = {}
    for h in range(size.hydros):
        for stage in stage_specs:
            if order[h]:
                ar_models[(h, stage.id)] = _ar_model(int(order[h]), rng)
    past_inflows = {
        h: tuple(float(_round(inflow_mean[(h, -lag)] * rng.uniform(0.7, 1.3))) for lag in range(1, int(order[h]) + 1))
        for h in range(size.hydros) if order[h]
    }

    thermal_bus = np.concatenate((np.arange(min(size.thermals, size.subsystems)),
                                  rng.integers(0, size.subsystems, max(0, size.thermals - size.subsystems))))
    thermal_max = _round(rng.lognormal(math.log(300.0), 0.8, size.thermals).clip(20.0, 2000.0))
    thermal_cost = _round(rng.lognormal(math.log(180.0), 0.7, size.thermals).clip(15.0, 1200.0), 2)
    must_run = rng.random(size.thermals) < 0.1
    thermal_min = np.where(must_run, _round(thermal_max * rng.uniform(0.2, 0.5, size.thermals)), 0.0)
    thermal_list = tuple(
        Thermal(j, f"T{j:03d}", int(thermal_bus[j]), float(thermal_min[j]), float(thermal_max[j]),
                float(thermal_cost[j]))
        for j in range(size.thermals)
    )

    # loads: hydro's average energy plus about a third of the thermal fleet, shared among subsystems
    hydro_energy = np.minimum(natural, max_turbined) * productivity
    supply = np.zeros(size.subsystems)
    np.add.at(supply, basin_bus[[basin_of[h] for h in range(size.hydros)]], hydro_energy)
    np.add.at(supply, thermal_bus, thermal_max)
    total_load = 0.85 * hydro_energy.sum() + 0.35 * thermal_max.sum()
    share = (supply / supply.sum()) * rng.uniform(0.7, 1.3, size.subsystems)
    bus_load = total_load * share / share.sum()
    buses = tuple(
        Bus(b, f"S{b}", tuple(
            DeficitSegment(float(_round(depth * bus_load[b])), cost)
            for depth, cost in zip(DEFICIT_DEPTHS, DEFICIT_COSTS, strict=False)
        ) + (DeficitSegment(math.inf, DEFICIT_COSTS[-1]),))
        for b in range(size.subsystems)
    )
    load_mean = {
        (b, s.id): float(_round(bus_load[b] * (1.04 ** (s.id / 12))
                                * (1 + 0.05 * math.cos(2 * math.pi * (s.season_id - 1) / 12))))
        for b in range(size.subsystems) for s in stage_specs
    }
    load_factors = {
        (b, s.id): {k: BLOCKS[k][2] for k in range(size.blocks)} for b in range(size.subsystems) for s in stage_specs
    } if size.blocks > 1 else {}

    case = Case(
        root="<national>",
        settings=Settings(
            training=TrainingSettings(iterations=50, forward_passes=200, seed=size.seed),
            simulation=SimulationSettings(enabled=False, scenarios=2000),
            inflow_method="penalty",
            config_inflow_penalty=None,
        ),
        stages=stage_specs,
        pre_study=pre_study,
        annual_discount_rate=ANNUAL_DISCOUNT_RATE,
        buses=buses,
        lines=_lines(size.subsystems, bus_load, rng),
        thermals=thermal_list,
        hydros=hydro_list,
        excess_cost=EXCESS_COST,
        initial_storage=initial_storage,
        past_inflows=past_inflows,
        inflow_stats=SeriesStats(inflow_mean, inflow_std),
        ar_models=ar_models,
        load_stats=SeriesStats(load_mean, dict.fromkeys(load_mean, 0.0)),
        load_factors=load_factors,
        state_flags={s.id: (True, True) for s in stage_specs},
    )
    return NationalSystem(size, case, generate_noise(case, size.seed), tuple(tuple(b) for b in basins))


def _round(values, digits: int = 1):
    """Round so the JSON and Parquet files hold short, exact decimal numbers."""
    return np.round(values, digits)


def _stages(size: NationalSize) -> tuple[StageSpec, ...]:
    specs = []
    for t in range(size.stages):
        start, end = _month(t), _month(t + 1)
        hours = (end - start).days * HOURS_PER_DAY
        if size.blocks == 1:
            blocks = (Block(0, "SINGLE", float(hours)),)
        else:
            shares = np.array([b[1] for b in BLOCKS[: size.blocks]])
            split = np.floor(hours * shares / shares.sum())
            split[-1] = hours - split[:-1].sum()
            blocks = tuple(Block(k, BLOCKS[k][0], float(split[k])) for k in range(size.blocks))
        specs.append(StageSpec(id=t, start=start, end=end, blocks=blocks, openings=size.openings,
                               season_id=start.month - 1))
    return tuple(specs)


def _month(offset: int) -> date:
    months = FIRST_MONTH.month - 1 + offset
    return date(FIRST_MONTH.year + months // 12, months % 12 + 1, 1)


def _basins(n_hydros: int, rng: np.random.Generator) -> list[list[int]]:
    """Plant ids split into basins of 1 to ``MAX_CASCADE`` plants (8 on average: 20 basins for 160 plants)."""
    basins, start = [], 0
    while start < n_hydros:
        length = min(1 + int(rng.binomial(MAX_CASCADE - 1, 7 / 9)), n_hydros - start)
        basins.append(list(range(start, start + length)))
        start += length
    return basins


def _cascades(basins: list[list[int]]) -> list[int | None]:
    """Each plant's downstream plant: a main stem, and in basins of 5 or more the first plant is a tributary."""
    downstream: list[int | None] = []
    for members in basins:
        for i in range(len(members)):
            downstream.append(members[i + 1] if i + 1 < len(members) else None)
        if len(members) >= 5:
            downstream[members[0]] = members[2]  # a tributary joining the stem two plants down
    return downstream


def _upstream_first(downstream: list[int | None], n: int) -> list[int]:
    """Plant ids ordered so every plant comes before the one it drains into."""
    depth = [0] * n
    for h in range(n):
        node, d = downstream[h], 0
        while node is not None:
            d += 1
            node = downstream[node]
        depth[h] = d
    return sorted(range(n), key=lambda h: (-depth[h], h))


def _ar_model(order: int, rng: np.random.Generator) -> ArModel:
    """Standardised coefficients of a persistent, stationary PAR(order) month, and its residual ratio."""
    first = float(_round(rng.uniform(0.45, 0.8), 3))
    rest = [float(_round(rng.uniform(0.0, 0.15), 3)) for _ in range(order - 1)]
    explained = first**2 + sum(c**2 for c in rest)
    ratio = float(_round(math.sqrt(max(0.2, 1.0 - explained)), 4))
    return ArModel((first, *rest), ratio)


def _lines(n_buses: int, bus_load: np.ndarray, rng: np.random.Generator) -> tuple[Line, ...]:
    """A spanning tree of interchanges (each subsystem to an earlier one) and one loop when there are 4+."""
    pairs = [(int(rng.integers(0, b)), b) for b in range(1, n_buses)]
    if n_buses >= 4:
        pairs.append((1, n_buses - 1) if (1, n_buses - 1) not in pairs else (2, n_buses - 1))
    lines = []
    for i, (a, b) in enumerate(pairs):
        scale = 0.35 * min(bus_load[a], bus_load[b])
        lines.append(Line(i, f"S{a}_S{b}", a, b, float(_round(scale * rng.uniform(0.6, 1.4))),
                          float(_round(scale * rng.uniform(0.6, 1.4))), EXCHANGE_COST))
    return tuple(lines)


# -- the case directory ---------------------------------------------------------------------------------------


def write_national(directory: str | Path, size: NationalSize | None = None, **sizes: int) -> Path:
    """Write the system of ``size`` (or of the keyword sizes) as a Cobre case directory; returns its path."""
    system = generate(size if size is not None else NationalSize(**sizes))
    write_case(system, directory)
    return Path(directory)


def write_case(system: NationalSystem, directory: str | Path) -> None:
    """The files of Cobre's format 0.5.x that describe ``system``, its opening tree included."""
    root = Path(directory)
    (root / "system").mkdir(parents=True, exist_ok=True)
    (root / "scenarios").mkdir(parents=True, exist_ok=True)
    case = system.case
    training = case.settings.training
    _json(root / "config.json", {
        "training": {
            "forward_passes": training.forward_passes,
            "stopping_rules": [{"type": "iteration_limit", "limit": training.iterations}],
            "tree_seed": training.seed,
        },
        "simulation": {"enabled": False, "num_scenarios": case.settings.simulation.scenarios},
        "modeling": {"inflow_non_negativity": {"method": case.settings.inflow_method}},
    })
    _json(root / "stages.json", {
        "policy_graph": {"type": "finite_horizon", "annual_discount_rate": case.annual_discount_rate},
        "pre_study_stages": [
            {"id": i, "start_date": _month(i).isoformat(), "end_date": _month(i + 1).isoformat(), "season_id": s}
            for i, s in sorted(case.pre_study.items())
        ],
        "stages": [
            {
                "id": s.id, "start_date": s.start.isoformat(), "end_date": s.end.isoformat(), "season_id": s.season_id,
                "blocks": [{"id": b.id, "name": b.name, "hours": b.hours} for b in s.blocks],
                "num_scenarios": s.openings,
            }
            for s in case.stages
        ],
    })
    penalties = HYDRO_PENALTIES
    _json(root / "penalties.json", {
        "bus": {"deficit_segments": _segments(case.buses[0].deficit), "excess_cost": case.excess_cost},
        "line": {"exchange_cost": EXCHANGE_COST},
        "hydro": {
            "spillage_cost": penalties.spillage,
            "storage_violation_below_cost": penalties.storage_below,
            "turbined_violation_below_cost": penalties.turbined_below,
            "outflow_violation_below_cost": penalties.outflow_below,
            "outflow_violation_above_cost": penalties.outflow_above,
            "generation_violation_below_cost": penalties.generation_below,
            "inflow_nonnegativity_cost": penalties.inflow_nonnegativity,
            # costs of features this system does not have, which Cobre's reader requires all the same
            "fpha_turbined_cost": 0.05,
            "diversion_cost": 0.1,
            "filling_target_violation_cost": 50000.0,
            "evaporation_violation_cost": 5000.0,
            "water_withdrawal_violation_cost": 1000.0,
        },
        "non_controllable_source": {"curtailment_cost": 0.005},
    })
    _json(root / "initial_conditions.json", {
        "storage": [{"hydro_id": h, "value_hm3": v} for h, v in sorted(case.initial_storage.items())],
        "filling_storage": [],
        "past_inflows": [{"hydro_id": h, "values_m3s": list(v)} for h, v in sorted(case.past_inflows.items())],
    })
    _json(root / "system" / "buses.json", {
        "buses": [{"id": b.id, "name": b.name, "deficit_segments": _segments(b.deficit)} for b in case.buses]
    })
    _json(root / "system" / "lines.json", {
        "lines": [
            {"id": line.id, "name": line.name, "source_bus_id": line.source, "target_bus_id": line.target,
             "capacity": {"direct_mw": line.direct_mw, "reverse_mw": line.reverse_mw},
             "exchange_cost": line.exchange_cost}
            for line in case.lines
        ]
    })
    _json(root / "system" / "thermals.json", {
        "thermals": [
            {"id": t.id, "name": t.name, "bus_id": t.bus, "generation": {"min_mw": t.min_mw, "max_mw": t.max_mw},
             "cost_per_mwh": t.cost}
            for t in case.thermals
        ]
    })
    _json(root / "system" / "hydros.json", {"hydros": [_hydro_record(h) for h in case.hydros]})
    _stats_table(root / "scenarios" / "inflow_seasonal_stats.parquet", case.inflow_stats, "hydro_id", "mean_m3s",
                 "std_m3s")
    _stats_table(root / "scenarios" / "load_seasonal_stats.parquet", case.load_stats, "bus_id", "mean_mw", "std_mw")
    if case.ar_models:
        _ar_table(root / "scenarios" / "inflow_ar_coefficients.parquet", case.ar_models)
    if case.load_factors:
        _json(root / "scenarios" / "load_factors.json", {
            "load_factors": [
                {"bus_id": b, "stage_id": s,
                 "block_factors": [{"block_id": k, "factor": f} for k, f in sorted(factors.items())]}
                for (b, s), factors in sorted(case.load_factors.items())
            ]
        })
    write_noise_openings(root / "scenarios" / "noise_openings.parquet", system.noise)


def _json(path: Path, document: dict) -> None:
    # json writes floats with repr(), which reads back as the very same float
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def _segments(segments: tuple[DeficitSegment, ...]) -> list[dict]:
    return [{"depth_mw": None if math.isinf(s.depth_mw) else s.depth_mw, "cost": s.cost} for s in segments]


def _hydro_record(hydro: Hydro) -> dict:
    return {
        "id": hydro.id, "name": hydro.name, "bus_id": hydro.bus, "downstream_id": hydro.downstream,
        "reservoir": {"min_storage_hm3": hydro.min_storage, "max_storage_hm3": hydro.max_storage},
        "outflow": {"min_outflow_m3s": hydro.min_outflow, "max_outflow_m3s": None},
        "generation": {
            "model": "constant_productivity", "productivity_mw_per_m3s": hydro.productivity,
            "min_turbined_m3s": hydro.min_turbined, "max_turbined_m3s": hydro.max_turbined,
            "min_generation_mw": hydro.min_generation, "max_generation_mw": hydro.max_generation,
        },
    }


def _stats_table(path: Path, stats: SeriesStats, entity: str, mean: str, std: str) -> None:
    import pyarrow as pa  # here, not at module level: a training of the in-memory case reads no Parquet
    keys = sorted(stats.mean)
    table = pa.table({
        entity: pa.array([k[0] for k in keys], pa.int32()),
        "stage_id": pa.array([k[1] for k in keys], pa.int32()),
        mean: pa.array([stats.mean[k] for k in keys], pa.float64()),
        std: pa.array([stats.std[k] for k in keys], pa.float64()),
    })
    write_table(table, path, compression="zstd")  # Cobre 0.5.1 is built without Snappy


def _ar_table(path: Path, models: dict[tuple[int, int], ArModel]) -> None:
    import pyarrow as pa  # here, not at module level: a training of the in-memory case reads no Parquet
    rows = [(h, s, lag, c, m.residual_std_ratio) for (h, s), m in sorted(models.items())
            for lag, c in enumerate(m.coefficients, start=1)]
    columns = list(zip(*rows, strict=True))
    table = pa.table({
        "hydro_id": pa.array(columns[0], pa.int32()),
        "stage_id": pa.array(columns[1], pa.int32()),
        "lag": pa.array(columns[2], pa.int32()),
        "coefficient": pa.array(columns[3], pa.float64()),
        "residual_std_ratio": pa.array(columns[4], pa.float64()),
    })
    write_table(table, path, compression="zstd")


def with_training(system: NationalSystem, iterations: int, forward_passes: int) -> NationalSystem:
    """The same system with another iteration limit and forward passes in its ``config.json``."""
    settings = replace(system.case.settings,
                       training=replace(system.case.settings.training, iterations=iterations,
                                        forward_passes=forward_passes))
    return replace(system, case=replace(system.case, settings=settings))


def main(argv: list[str] | None = None) -> int:
    defaults = NationalSize()
    parser = argparse.ArgumentParser(
        prog="python -m caudal.examples.national_case",
        description="Write the national-size synthetic system (or a smaller one) as a Cobre case directory.",
    )
    parser.add_argument("-o", "--output", required=True, type=Path, help="the case directory to write")
    for name in ("hydros", "thermals", "subsystems", "stages", "openings", "par_order", "blocks", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name),
                            help=f"default {getattr(defaults, name)}")
    parser.add_argument("--iterations", type=int, default=50, help="config.json's iteration limit (default 50)")
    parser.add_argument("--forward-passes", type=int, default=200, help="config.json's forward passes (default 200)")
    args = parser.parse_args(argv)
    try:
        size = NationalSize(args.hydros, args.thermals, args.subsystems, args.stages, args.openings, args.par_order,
                            args.blocks, args.seed)
    except ValueError as exc:
        parser.exit(2, f"{exc}\n")
    system = with_training(generate(size), args.iterations, args.forward_passes)
    write_case(system, args.output)
    n_lags = sum(len(v) for v in system.case.past_inflows.values())
    print(f"{args.output}: {size.hydros} hydros in {len(system.basins)} basins, {size.thermals} thermals, "
          f"{size.subsystems} subsystems, {size.stages} stages x {size.blocks} blocks, {size.openings} openings, "
          f"{size.hydros + n_lags} states")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
