"""``penalties.json`` and ``system/*.json`` of a 0.18 case.

What changed from 0.5.x: every entity carries an ``operational_start_date``
(caudal accepts entities in service from the first stage on, and refuses later
entries by name); a hydro plant reaches its bus through ``unit_groups`` (caudal
models one group per plant, whose limits are the plant's); and a plant's
constant productivity moved to ``system/hydro_production_models.json``, where
it may vary by stage range (or come from ``system/hydro_energy_productivity.parquet``,
energy_productivity.py), or be replaced by FPHA planes (fpha.py); a
``linearized_head`` plant is one of constant productivity (production.py). The rest
of the physics (evaporation included), and what is refused, is as in 0.5.x.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

from caudal.hydro.cobre.case import Bus, Hydro, HydroPenalties, Line, Thermal, UnitGroup
from caudal.hydro.cobre.fields import MISSING, Record
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.format_018.energy_productivity import read_energy_productivity
from caudal.hydro.cobre.production import (
    CONSTANT_PRODUCTIVITY,
    FPHA,
    LINEARIZED_HEAD,
    ProductionModel,
    check_plants,
    missing_model,
    overrides,
    read_production_models,
)
from caudal.hydro.cobre.production import FILE as MODELS_FILE
from caudal.hydro.cobre.system import (
    BUSES,
    DEFAULT_INFLOW_PENALTY,
    HYDROS,
    LINES,
    MODELLED_HYDRO_PENALTIES,
    PENALTIES,
    THERMALS,
    GlobalPenalties,
    System,
    _deficit_segments,
    bus_fields,
    entity_records,
    hydro_penalties,
    line_fields,
    thermal_fields,
)

PRODUCTIVITY = "productivity_mw_per_m3s"

# Costs read apart (evaporation.py, withdrawals.py) or pricing features caudal refuses (diversion, filling).
_INERT_HYDRO_PENALTIES = (
    "diversion_cost",
    "filling_target_violation_cost",
    "evaporation_violation_cost",
    "evaporation_violation_pos_cost",
    "evaporation_violation_neg_cost",
    "water_withdrawal_violation_cost",
    "water_withdrawal_violation_pos_cost",
    "water_withdrawal_violation_neg_cost",
)


def read_system(
    files: CaseFiles, study_start: date, seasons: tuple[int | None, ...]
) -> tuple[System, dict[tuple[int, int], float], dict[int, ProductionModel]]:
    """The system, the productivity of each (hydro, stage) where it differs from the plant's first stage, and
    the production models (for their FPHA ranges)."""
    penalties = _global_penalties(files.json(PENALTIES))
    buses = tuple(_bus(r, penalties, study_start) for r in entity_records(files, BUSES, "buses", "bus"))
    lines = tuple(_line(r, penalties, study_start) for r in entity_records(files, LINES, "lines", "line"))
    thermals = tuple(_thermal(r, study_start) for r in entity_records(files, THERMALS, "thermals", "thermal"))
    hydros = tuple(_hydro(r, penalties, study_start) for r in entity_records(files, HYDROS, "hydros", "hydro"))
    supplied = read_energy_productivity(files, {h.id for h in hydros}, len(seasons))
    models = (read_production_models(files, len(seasons), PRODUCTIVITY, seasons=seasons,
                                     supplied=supplied.productivity)
              if hydros or files.exists(MODELS_FILE) else {})
    check_plants(models, {h.id for h in hydros}, HYDROS)  # first: a dangling model explains a missing one
    for hydro in hydros:
        if hydro.id not in models:
            raise missing_model(hydro.id)
    hydros = tuple(replace(h, productivity=models[h.id].productivity[0]) for h in hydros)
    productivity = overrides(models, {h.id: h.productivity for h in hydros})
    system = System(buses, lines, thermals, hydros, penalties.excess_cost, penalties.hydro["inflow_nonnegativity_cost"])
    return system, productivity, models


def _global_penalties(doc: Record) -> GlobalPenalties:
    bus = doc.record("bus")
    deficit = _deficit_segments(bus, "deficit_segments")
    excess = bus.number("excess_cost", minimum=0.0)
    bus.finish()
    line = doc.record("line")
    exchange = line.number("exchange_cost", minimum=0.0)
    line.finish()
    hydro = doc.record("hydro")
    costs: dict[str, float | None] = {name: hydro.number(name, minimum=0.0) for name in MODELLED_HYDRO_PENALTIES}
    costs["inflow_nonnegativity_cost"] = hydro.number(
        "inflow_nonnegativity_cost", DEFAULT_INFLOW_PENALTY, minimum=0.0
    )
    _no_turbined_cost(hydro, required=True)
    hydro.ignore(*_INERT_HYDRO_PENALTIES)
    hydro.finish()
    sources = doc.record("non_controllable_source", None)  # the sources themselves are refused
    if sources is not None:
        sources.number("curtailment_cost", minimum=0.0)
        sources.finish()
    doc.finish()
    return GlobalPenalties(deficit, excess, exchange, costs)


def _no_turbined_cost(record: Record, *, required: bool) -> None:
    cost = record.number("turbined_cost", None if not required else 0.0, minimum=0.0)
    if cost:
        raise record.refuse("turbined_cost", "a turbined-flow regularization cost")


def _in_service(record: Record, study_start: date, *, window: bool = False) -> None:
    """Refuse entities entering service after the first stage starts; entry and exit stages unless ``window``.

    Thermals, lines and sources may have a service window (read by ``format_018/bounds.py``).
    """
    text = record.string("operational_start_date")
    try:
        start = date.fromisoformat(text)
    except ValueError as exc:
        raise record.error("operational_start_date", f"must be an ISO date (YYYY-MM-DD), got {text!r}") from exc
    if start > study_start:
        raise record.refuse(
            "operational_start_date", f"entering service after the study starts ({text} > {study_start.isoformat()})"
        )
    for key in ("entry_stage_id", "exit_stage_id"):
        if window:
            record.integer(key, None, minimum=0)
        else:
            record.refuse_if_present(key, "entry and exit stages")


def source_in_service(record: Record, study_start: date) -> None:
    """The 0.18 keys of a non-controllable source: its start of service and window, and curtailment allowed."""
    _in_service(record, study_start, window=True)
    if not record.boolean("allow_curtailment", True):
        raise record.refuse("allow_curtailment", "sources whose generation cannot be curtailed")


def _bus(record: Record, penalties: GlobalPenalties, study_start: date) -> Bus:
    bus = bus_fields(record, penalties)
    _in_service(record, study_start)
    record.finish()
    return bus


def _line(record: Record, penalties: GlobalPenalties, study_start: date) -> Line:
    line = line_fields(record, penalties)
    _in_service(record, study_start, window=True)
    record.finish()
    return line


def _thermal(record: Record, study_start: date) -> Thermal:
    thermal = thermal_fields(record)
    record.refuse_if_present("anticipated_config", "anticipated (GNL) thermal dispatch")
    _in_service(record, study_start, window=True)
    record.finish()
    return thermal


def _range(record: Record, low_key: str, high_key: str, *, unbounded: bool = False) -> tuple[float, float]:
    low = record.number(low_key, minimum=0.0)
    high = record.number(high_key, math.inf if unbounded else MISSING, minimum=0.0)
    if low > high:
        raise record.error(low_key, f"exceeds {high_key} ({low:g} > {high:g})")
    return low, high


def _hydro(record: Record, penalties: GlobalPenalties, study_start: date) -> Hydro:
    """The plant as hydros.json gives it; its productivity (from the production models) is filled in later."""
    hydro_id = record.integer("id", minimum=0)
    name = record.string("name")
    downstream = record.integer("downstream_id", None)
    reservoir = record.record("reservoir")
    min_storage, max_storage = _range(reservoir, "min_storage_hm3", "max_storage_hm3")
    reservoir.finish()
    outflow = record.record("outflow")
    min_outflow, max_outflow = _range(outflow, "min_outflow_m3s", "max_outflow_m3s", unbounded=True)
    outflow.finish()
    generation = record.record("generation")
    model = generation.string("model")
    if model not in (CONSTANT_PRODUCTIVITY, LINEARIZED_HEAD, FPHA):
        raise generation.refuse("model", f"the {model!r} production model")
    turbined = _range(generation, "min_turbined_m3s", "max_turbined_m3s")
    power = _range(generation, "min_generation_mw", "max_generation_mw")
    generation.finish()
    bus, groups = _unit_groups(record, turbined, power)
    for key, feature in (
        ("diversion", "diversion channels"),
        ("filling", "reservoir filling"),
    ):
        record.refuse_if_present(key, feature)
    # Cobre 0.18.0 derives an FPHA plant's equivalent productivity from it (times the head) for its energy
    # reports, never the LP's: checked and set aside (format_018/energy_productivity.py says how it was measured)
    record.number("specific_productivity_mw_per_m3s_per_m", None, minimum=0.0)
    if record.number("travel_time_hours", 0.0, minimum=0.0) != 0.0:
        raise record.refuse("travel_time_hours", "water travel time between plants")
    record.ignore("evaporation", "tailrace", "hydraulic_losses", "efficiency")  # evaporation.py, fpha.py
    _in_service(record, study_start, window=True)
    plant_penalties = _hydro_penalties(record, penalties)
    record.finish()
    return Hydro(
        id=hydro_id,
        name=name,
        bus=bus,
        downstream=downstream,
        min_storage=min_storage,
        max_storage=max_storage,
        min_outflow=min_outflow,
        max_outflow=max_outflow,
        productivity=math.nan,
        min_turbined=turbined[0],
        max_turbined=turbined[1],
        min_generation=power[0],
        max_generation=power[1],
        penalties=plant_penalties,
        groups=groups,
    )


def _unit_groups(
    record: Record, turbined: tuple[float, float], power: tuple[float, float]
) -> tuple[int, tuple[UnitGroup, ...]]:
    """The plant's bus and, when it has several unit groups, the groups (checked against Cobre 0.18.0 runs).

    A single group must carry the plant's limits. Several groups split the
    turbined flow, each up to its maxima and injecting at its own bus; their
    minima must be zero (caudal does not model group minima) and their maxima
    may not add up to more than the plant's.
    """
    groups = record.records("unit_groups", lambda i, _: record.entity)
    if not groups:
        raise record.error("unit_groups", "must list the plant's unit group (0.18 attaches plants to buses by it)")
    if len(groups) > 1:
        return _several_groups(record, groups, turbined, power)
    group = groups[0]
    group.prefix = "unit_groups[0]."
    group.integer("id", minimum=0)
    group.string("name")
    bus = group.integer("bus_id")
    for keys, plant in (
        (("min_turbined_m3s", "max_turbined_m3s"), turbined),
        (("min_generation_mw", "max_generation_mw"), power),
    ):
        limits = _range(group, *keys)
        if limits != plant:
            raise group.refuse(keys[0], f"unit group limits other than the plant's generation limits {plant}")
    group.finish()
    return bus, ()


def _several_groups(
    record: Record, groups: list[Record], turbined: tuple[float, float], power: tuple[float, float]
) -> tuple[int, tuple[UnitGroup, ...]]:
    out: list[UnitGroup] = []
    for i, group in enumerate(groups):
        group.prefix = f"unit_groups[{i}]."
        group_id = group.integer("id", minimum=0)
        if any(g.id == group_id for g in out):
            raise group.error("id", f"unit group id {group_id} is used twice")
        group.string("name")
        bus = group.integer("bus_id")
        limits = []
        for low, high in (("min_turbined_m3s", "max_turbined_m3s"), ("min_generation_mw", "max_generation_mw")):
            minimum, maximum = _range(group, low, high)
            if minimum != 0.0:
                raise group.refuse(low, "minimum limits of a unit group on a plant of several groups")
            limits.append(maximum)
        group.finish()
        out.append(UnitGroup(group_id, bus, limits[0], limits[1]))
    for field, plant, total in (("max_turbined_m3s", turbined[1], sum(g.max_turbined for g in out)),
                                ("max_generation_mw", power[1], sum(g.max_generation for g in out))):
        if total > plant:
            raise record.error(f"unit_groups[].{field}", f"the groups' maxima add up to {total:g}, above the "
                               f"plant's {plant:g}")
    return out[0].bus, tuple(out)


def _hydro_penalties(record: Record, penalties: GlobalPenalties) -> HydroPenalties:
    """The plant's own penalties where given, else the global ones."""
    costs = dict(penalties.hydro)
    own = record.record("penalties", None)
    if own is not None:
        for name in costs:
            costs[name] = own.number(name, costs[name], minimum=0.0)
        _no_turbined_cost(own, required=False)
        own.ignore(*_INERT_HYDRO_PENALTIES)
        own.finish()
    return hydro_penalties(costs)
