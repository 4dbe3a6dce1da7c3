"""Reservoir evaporation, linearized from the area curve around each stage's reference storage.

A plant's ``evaporation`` in ``system/hydros.json`` gives a depth per calendar
month (``coefficients_mm``, twelve values, indexed by the stage's
``season_id``) and optionally a reference storage per month
(``reference_volumes_hm3``; by default the middle of the reservoir's range).
Over a stage of ``T`` hours, a depth ``c`` (mm) over an area ``A`` (km2) is
``c * A * 1000`` m3, a flow of ``c * A / (3.6 * T)`` m3/s. Linearizing ``A``
around the reference storage ``v_ref`` with the curve's slope ``A'`` there
(geometry.py) gives, in the stage's average storage ``(v_in + v_out) / 2``:

    evaporation = k0 + kv * (v_in + v_out) / 2,
    kv = c * A' / (3.6 T),  k0 = c * A(v_ref) / (3.6 T) - kv * v_ref.

The evaporated flow ``e`` (within ``[0, 2 * max(0, k0 + kv * v_max)]``) leaves
the reservoir in the water balance. The row ``e - kv (v_in + v_out) / 2 +
under - over = k0`` lets the LP evaporate less (``under``) or more (``over``)
than the line at ``evaporation_violation_neg_cost`` and ``_pos_cost`` per m3/s
and hour (both defaulting to ``evaporation_violation_cost``; ``penalties.json``'s
``hydro`` section, overridden by the plant's ``penalties``). This is Cobre
0.5.1's formulation, and d08 reproduces its cost with it.
"""

from __future__ import annotations

from caudal.hydro.cobre.case import EvaporationLine, Hydro, StageSpec
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.geometry import FILE as GEOMETRY
from caudal.hydro.cobre.geometry import Curve
from caudal.hydro.cobre.system import HYDROS, PENALTIES
from caudal.model.problem import Stage, Variable

KEY = "evaporation"
MONTHS = 12
UPPER_MARGIN = 2.0
"""The evaporated flow's upper bound is this many times the line's value at full storage (as in Cobre)."""
SYMMETRIC = "evaporation_violation_cost"
BELOW = "evaporation_violation_neg_cost"  # evaporating less than the line
ABOVE = "evaporation_violation_pos_cost"  # evaporating more


def read_evaporation(
    files: CaseFiles, hydros: tuple[Hydro, ...], stages: tuple[StageSpec, ...], curves: dict[int, Curve]
) -> tuple[dict[tuple[int, int], EvaporationLine], dict[int, tuple[float, float]]]:
    """The line of every (hydro id, stage id) whose plant evaporates, and each such plant's (below, above) costs."""
    section = _section(files.json(PENALTIES).data, "hydro")
    default = _costs(Record(PENALTIES, None, section, "hydro."), None)
    by_id = {h.id: h for h in hydros}
    lines: dict[tuple[int, int], EvaporationLine] = {}
    costs: dict[int, tuple[float, float]] = {}
    items = files.json(HYDROS).data.get("hydros")
    for item in items if isinstance(items, list) else []:
        if not (isinstance(item, dict) and item.get("id") in by_id):
            continue
        plant = item.get("penalties")  # checked on every plant, used on those that evaporate
        own = _costs(Record(HYDROS, f"hydro {item['id']}", plant, "penalties."), default) if isinstance(
            plant, dict) else default
        if item.get(KEY) is None:
            continue
        hydro = by_id[item["id"]]
        record = Record(HYDROS, f"hydro {hydro.id}", item[KEY], f"{KEY}.")
        references = _monthly(record, "reference_volumes_hm3", 0.0)
        depths = _monthly(record, "coefficients_mm", None)
        record.finish()
        curve = curves.get(hydro.id)
        if curve is None:
            raise record.error("coefficients_mm", f"the plant evaporates but {GEOMETRY} has no curve for it")
        if not curve.area.any():
            raise CaseError(GEOMETRY, f"hydro {hydro.id}", "area_km2",
                            "is zero everywhere: evaporation needs the reservoir's surface")
        for spec in stages:
            month = spec.season_id
            if month is None or not 0 <= month < MONTHS:
                raise CaseError("stages.json", f"stage {spec.id}", "season_id",
                                f"must be a calendar month 0..11 to price hydro {hydro.id}'s evaporation, got {month}")
            reference = references[month] if references else 0.5 * (hydro.min_storage + hydro.max_storage)
            lines[(hydro.id, spec.id)] = linearize(curve, depths[month], reference, spec.hours, hydro.max_storage)
        costs[hydro.id] = own
    return lines, costs


def linearize(curve: Curve, depth_mm: float, reference: float, hours: float, max_storage: float) -> EvaporationLine:
    """The evaporation line of one stage (see the module's docstring)."""
    per_km2 = depth_mm / (3.6 * hours)  # m3/s evaporated per km2 of surface
    slope = per_km2 * curve.area_slope(reference)
    constant = per_km2 * curve.area_at(reference) - slope * reference
    upper = UPPER_MARGIN * max(0.0, constant + slope * max_storage)
    return EvaporationLine(constant, slope, upper)


def _monthly(record: Record, key: str, minimum: float | None) -> tuple[float, ...]:
    """Twelve numbers (``()`` when an optional key is absent)."""
    value = record.data.get(key)
    if value is None and key != "coefficients_mm":
        record.ignore(key)
        return ()
    if not isinstance(value, list) or len(value) != MONTHS:
        raise record.error(key, f"must list {MONTHS} numbers, one per calendar month")
    numbers = Record(record.file, record.entity, dict(enumerate(value)), f"{record.prefix}{key}.")
    out = tuple(numbers.number(i, minimum=minimum) for i in range(MONTHS))
    record.ignore(key)
    return out


def _section(data: object, key: str) -> dict:
    value = data.get(key, {}) if isinstance(data, dict) else {}
    return value if isinstance(value, dict) else {}


def _costs(record: Record, fallback: tuple[float, float] | None) -> tuple[float, float]:
    symmetric = record.number(SYMMETRIC, None, minimum=0.0)
    below = symmetric if symmetric is not None else (fallback[0] if fallback else 0.0)
    above = symmetric if symmetric is not None else (fallback[1] if fallback else 0.0)
    return record.number(BELOW, below, minimum=0.0), record.number(ABOVE, above, minimum=0.0)


def add_evaporation(
    stage: Stage, hydro: Hydro, line: EvaporationLine, storage: tuple[Variable, Variable],
    costs: tuple[float, float],
) -> tuple[Variable, Variable, Variable]:
    """The evaporated flow of the stage (m3/s), tied to the line, and the flows by which it misses it.

    ``costs`` are (below, above) per m3/s over the stage; returns (evaporated, below, above).
    """
    evaporated = stage.add_variable(f"evaporation[{hydro.id}]", lower=0.0, upper=line.upper)
    below = stage.add_variable(f"evaporation_below[{hydro.id}]", cost=costs[0])
    above = stage.add_variable(f"evaporation_above[{hydro.id}]", cost=costs[1])
    half = 0.5 * line.slope
    terms: dict[Variable, float] = {evaporated: 1.0, below: 1.0, above: -1.0}
    if half != 0.0:
        terms[storage[0]] = -half
        terms[storage[1]] = terms.get(storage[1], 0.0) - half
    stage.add_constraint(terms, "==", line.constant, name=f"evaporation[{hydro.id}]")
    return evaporated, below, above
