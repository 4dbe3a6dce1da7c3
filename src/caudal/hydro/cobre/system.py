"""``penalties.json`` and ``system/*.json``: buses, lines, thermals and hydro plants.

Hydro plants are modelled with constant productivity (or FPHA planes, read by
fpha.py), a reservoir, turbine and spillway, outflow and generation limits, a
cascade link and entity-level penalty overrides; evaporation is read by
evaporation.py. Plant features that change the physics otherwise (other
production models, diversion, filling, entry and exit stages) are refused, as
are line losses, entry and exit stages of any entity and GNL thermals (0.18's
reader accepts thermal, line, source and hydro windows). Stage-varying hydro
limits are read by hydro_limits.py. The
tailrace, losses and efficiency only shape computed FPHA planes
(fpha_fitting.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from caudal.hydro.cobre.case import Bus, DeficitSegment, Hydro, HydroPenalties, Line, Thermal
from caudal.hydro.cobre.fields import MISSING, Record, entity_name
from caudal.hydro.cobre.files import CaseFiles

PENALTIES = "penalties.json"
BUSES = "system/buses.json"
LINES = "system/lines.json"
THERMALS = "system/thermals.json"
HYDROS = "system/hydros.json"

# Hydro penalties read apart (fpha.py, evaporation.py, withdrawals.py) or only pricing refused features.
_INERT_HYDRO_PENALTIES = (
    "fpha_turbined_cost",
    "diversion_cost",
    "filling_target_violation_cost",
    "evaporation_violation_cost",
    "evaporation_violation_pos_cost",
    "evaporation_violation_neg_cost",
    "water_withdrawal_violation_cost",
    "water_withdrawal_violation_pos_cost",
    "water_withdrawal_violation_neg_cost",
)


@dataclass(frozen=True)
class GlobalPenalties:
    deficit: tuple[DeficitSegment, ...]
    excess_cost: float
    exchange_cost: float
    hydro: dict[str, float | None]


@dataclass(frozen=True)
class System:
    buses: tuple[Bus, ...]
    lines: tuple[Line, ...]
    thermals: tuple[Thermal, ...]
    hydros: tuple[Hydro, ...]
    excess_cost: float
    inflow_penalty: float  # the global inflow non-negativity cost in force


DEFAULT_INFLOW_PENALTY = 1000.0
"""Inflow non-negativity cost when penalties.json does not give one (per m3/s and hour)."""


def read_system(files: CaseFiles) -> System:
    penalties = _global_penalties(files.json(PENALTIES))
    buses = tuple(_bus(r, penalties) for r in entity_records(files, BUSES, "buses", "bus"))
    lines = tuple(_line(r, penalties) for r in entity_records(files, LINES, "lines", "line"))
    thermals = tuple(_thermal(r) for r in entity_records(files, THERMALS, "thermals", "thermal"))
    hydros = tuple(_hydro(r, penalties) for r in entity_records(files, HYDROS, "hydros", "hydro"))
    return System(buses, lines, thermals, hydros, penalties.excess_cost, penalties.hydro["inflow_nonnegativity_cost"])


def entity_records(files: CaseFiles, name: str, key: str, kind: str) -> list[Record]:
    doc = files.json(name)
    records = doc.records(key, entity_name(kind))
    doc.finish()
    return records


def _deficit_segments(record: Record, key: str) -> tuple[DeficitSegment, ...]:
    items = record.records(key, lambda i, _: record.entity)
    segments = []
    for i, item in enumerate(items):
        item.prefix = f"{record.prefix}{key}[{i}]."
        depth = item.number("depth_mw", None, minimum=0.0)
        last = i == len(items) - 1
        if depth is None and not last:
            raise item.error("depth_mw", "only the last deficit segment may be unbounded (null)")
        if depth is not None and last:
            raise item.error("depth_mw", "the last deficit segment must be unbounded (null)")
        segments.append(DeficitSegment(math.inf if depth is None else depth, item.number("cost", minimum=0.0)))
        item.finish()
    if not segments:
        raise record.error(key, "must list at least one segment")
    return tuple(segments)


MODELLED_HYDRO_PENALTIES = (
    "spillage_cost",
    "storage_violation_below_cost",
    "turbined_violation_below_cost",
    "outflow_violation_below_cost",
    "outflow_violation_above_cost",
    "generation_violation_below_cost",
)
"""The hydro penalties of penalties.json the formulation prices (both formats; stage overrides too)."""


def _global_penalties(doc: Record) -> GlobalPenalties:
    bus = doc.record("bus")
    deficit = _deficit_segments(bus, "deficit_segments")
    excess = bus.number("excess_cost", minimum=0.0)
    bus.finish()
    line = doc.record("line")
    exchange = line.number("exchange_cost", minimum=0.0)
    line.finish()
    hydro = doc.record("hydro")
    costs: dict[str, float | None] = {
        name: hydro.number(name, minimum=0.0) for name in MODELLED_HYDRO_PENALTIES
    }
    # Cobre 0.5.1 takes this cost from here (or the plant), not from config.json's penalty_cost: so does caudal.
    costs["inflow_nonnegativity_cost"] = hydro.number(
        "inflow_nonnegativity_cost", DEFAULT_INFLOW_PENALTY, minimum=0.0
    )
    hydro.ignore(*_INERT_HYDRO_PENALTIES)
    hydro.finish()
    doc.ignore("non_controllable_source", "version")  # sources themselves are refused
    doc.finish()
    return GlobalPenalties(deficit, excess, exchange, costs)


def _no_lifetime(record: Record) -> None:
    for key in ("entry_stage_id", "exit_stage_id"):
        record.refuse_if_present(key, "entry and exit stages")


def _ignored_lifetime(record: Record) -> None:
    """Hydro and bus windows: Cobre 0.5.1 accepts them and changes nothing (measured), so neither reading
    nor ignoring them would reproduce both the format and Cobre; 0.18 reads a hydro's (format_018/bounds.py)."""
    for key in ("entry_stage_id", "exit_stage_id"):
        record.refuse_if_present(key, "entry and exit stages of hydros and buses (Cobre 0.5.1 accepts them but "
                                      "ignores them; the 0.18 format reads a hydro's)")


def _bus(record: Record, penalties: GlobalPenalties) -> Bus:
    bus = bus_fields(record, penalties)
    _ignored_lifetime(record)
    record.finish()
    return bus


def bus_fields(record: Record, penalties: GlobalPenalties) -> Bus:
    """A bus's keys common to every format version; the caller checks its version's keys, then finishes."""
    bus_id = record.integer("id", minimum=0)
    name = record.string("name")
    deficit = _deficit_segments(record, "deficit_segments") if record.has("deficit_segments") else penalties.deficit
    record.ignore("deficit_segments")
    return Bus(bus_id, name, deficit)


def _line(record: Record, penalties: GlobalPenalties) -> Line:
    line = line_fields(record, penalties)
    _no_lifetime(record)
    record.finish()
    return line


def line_fields(record: Record, penalties: GlobalPenalties) -> Line:
    """A line's keys common to every format version; the caller checks its version's keys, then finishes."""
    line_id = record.integer("id", minimum=0)
    name = record.string("name")
    source, target = record.integer("source_bus_id"), record.integer("target_bus_id")
    if source == target:
        raise record.error("target_bus_id", f"connects bus {source} to itself")
    capacity = record.record("capacity")
    direct = capacity.number("direct_mw", minimum=0.0)
    reverse = capacity.number("reverse_mw", minimum=0.0)
    capacity.finish()
    cost = record.number("exchange_cost", penalties.exchange_cost, minimum=0.0)
    if record.number("losses_percent", 0.0) != 0.0:
        raise record.refuse("losses_percent", "transmission losses")
    return Line(line_id, name, source, target, direct, reverse, cost)


def _thermal(record: Record) -> Thermal:
    thermal = thermal_fields(record)
    record.refuse_if_present("gnl_config", "GNL thermal dispatch")
    _no_lifetime(record)
    record.finish()
    return thermal


def thermal_fields(record: Record) -> Thermal:
    """A thermal's keys common to every format version; the caller checks its version's keys, then finishes."""
    thermal_id = record.integer("id", minimum=0)
    name = record.string("name")
    bus = record.integer("bus_id")
    generation = record.record("generation")
    low = generation.number("min_mw", minimum=0.0)
    high = generation.number("max_mw", minimum=0.0)
    generation.finish()
    if low > high:
        raise record.error("generation.min_mw", f"exceeds generation.max_mw ({low:g} > {high:g})")
    cost = record.number("cost_per_mwh", minimum=0.0)
    return Thermal(thermal_id, name, bus, low, high, cost)


def _hydro(record: Record, penalties: GlobalPenalties) -> Hydro:
    hydro_id = record.integer("id", minimum=0)
    name = record.string("name")
    bus = record.integer("bus_id")
    downstream = record.integer("downstream_id", None)
    reservoir = record.record("reservoir")
    min_storage = reservoir.number("min_storage_hm3", minimum=0.0)
    max_storage = reservoir.number("max_storage_hm3", minimum=0.0)
    reservoir.finish()
    if min_storage > max_storage:
        raise record.error("reservoir.min_storage_hm3", f"exceeds max_storage_hm3 ({min_storage:g} > {max_storage:g})")
    outflow = record.record("outflow")
    min_outflow = outflow.number("min_outflow_m3s", minimum=0.0)
    max_outflow = outflow.number("max_outflow_m3s", math.inf, minimum=0.0)
    outflow.finish()
    if min_outflow > max_outflow:
        raise record.error("outflow.min_outflow_m3s", f"exceeds max_outflow_m3s ({min_outflow:g} > {max_outflow:g})")
    generation = record.record("generation")
    model = generation.string("model")
    if model not in ("constant_productivity", "fpha"):
        raise generation.refuse("model", f"the {model!r} production model")
    # An fpha plant's generation comes from its planes (NaN: no productivity to fall back on).
    productivity = generation.number("productivity_mw_per_m3s", math.nan if model == "fpha" else MISSING,
                                     minimum=0.0)
    min_turbined = generation.number("min_turbined_m3s", minimum=0.0)
    max_turbined = generation.number("max_turbined_m3s", minimum=0.0)
    min_generation = generation.number("min_generation_mw", minimum=0.0)
    max_generation = generation.number("max_generation_mw", minimum=0.0)
    generation.finish()
    if min_turbined > max_turbined:
        raise record.error(
            "generation.min_turbined_m3s", f"exceeds max_turbined_m3s ({min_turbined:g} > {max_turbined:g})"
        )
    if min_generation > max_generation:
        raise record.error(
            "generation.min_generation_mw", f"exceeds max_generation_mw ({min_generation:g} > {max_generation:g})"
        )
    for key, feature in (
        ("diversion", "diversion channels"),
        ("filling", "reservoir filling"),
    ):
        record.refuse_if_present(key, feature)
    record.ignore("evaporation", "tailrace", "hydraulic_losses", "efficiency")  # evaporation.py, fpha.py
    _ignored_lifetime(record)
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
        productivity=productivity,
        min_turbined=min_turbined,
        max_turbined=max_turbined,
        min_generation=min_generation,
        max_generation=max_generation,
        penalties=plant_penalties,
    )


def _hydro_penalties(record: Record, penalties: GlobalPenalties) -> HydroPenalties:
    """The plant's own penalties where given, else the global ones (three-level cascade, minus stages)."""
    costs = dict(penalties.hydro)
    own = record.record("penalties", None)
    if own is not None:
        for name in costs:
            costs[name] = own.number(name, costs[name], minimum=0.0)
        own.ignore(*_INERT_HYDRO_PENALTIES)
        own.finish()
    return hydro_penalties(costs)


def hydro_penalties(costs: dict[str, float | None]) -> HydroPenalties:
    """The plant penalties from their costs keyed by the format's names."""
    return HydroPenalties(
        spillage=costs["spillage_cost"],
        storage_below=costs["storage_violation_below_cost"],
        turbined_below=costs["turbined_violation_below_cost"],
        outflow_below=costs["outflow_violation_below_cost"],
        outflow_above=costs["outflow_violation_above_cost"],
        generation_below=costs["generation_violation_below_cost"],
        inflow_nonnegativity=costs["inflow_nonnegativity_cost"],
    )
