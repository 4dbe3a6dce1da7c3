"""Stage-varying bounds of thermals, lines and hydro outflows (0.18), and entry and exit stages.

``constraints/thermal_bounds.parquet`` overrides a thermal's minimum and
maximum generation (per stage, or per load block with ``block_id``) and its
cost (per stage only); ``constraints/line_bounds.parquet`` overrides a line's
direct and reverse capacity the same way, and ``constraints/hydro_bounds.parquet``
a plant's outflow range and maximum turbined flow and generation (its
withdrawals are read by ``withdrawals.py``; the storage, minimum turbined and
minimum generation columns are refused with the reasons of ``hydro_limits.py``).
A null value keeps what the plant or line has otherwise; a block's row wins
over its stage's row. An entity's ``entry_stage_id`` and ``exit_stage_id``
(``system/thermals.json``, ``system/lines.json``, ``system/hydros.json``) put
it in service from the entry stage up to, not including, the exit stage:
outside that window a thermal's or line's limits are zero, and a hydro plant
neither turbines nor stores: its reservoir keeps what it holds and its inflow
and the water from upstream pass it unpriced and free of its outflow limits. All of it was checked against
Cobre 0.18.0 runs (``tests/test_cobre_bounds.py``, ``tests/test_cobre_hydro_bounds.py``,
``tests/test_cobre_hydro_entry_exit.py``).

The result is one map, ``(quantity, entity id, stage id, block id or None) ->
value``, that the formulation consults through :meth:`Case.bound`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from caudal.hydro.cobre.case import Case, Hydro, Line, StageSpec, Thermal, stage_bound
from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.fields import Record, entity_name
from caudal.hydro.cobre.files import INT, CaseFiles, nullable_numbers
from caudal.hydro.cobre.hydro_limits import IN_SERVICE, LIMITS, REFUSED_018, check_hydro_limits
from caudal.hydro.cobre.hydro_limits import quantity as hydro_quantity
from caudal.hydro.cobre.system import HYDROS, LINES, THERMALS
from caudal.hydro.cobre.withdrawals import FILE as HYDRO_BOUNDS
from caudal.hydro.cobre.withdrawals import WITHDRAWAL

THERMAL_BOUNDS = "constraints/thermal_bounds.parquet"
LINE_BOUNDS = "constraints/line_bounds.parquet"
WINDOW = ("entry_stage_id", "exit_stage_id")

Overrides = dict[tuple[str, int, int, "int | None"], float]


@dataclass(frozen=True)
class _File:
    name: str
    kind: str  # "thermal" or "line"
    key: str  # the entity column
    columns: dict[str, str]  # column -> quantity name in the overrides
    stage_only: tuple[str, ...]  # columns caudal reads per stage only (a per-block value is refused)
    elsewhere: tuple[str, ...] = ()  # columns another reader reads (withdrawals.py)
    refused: dict[str, str] | None = None  # columns the format defines that caudal refuses -> the feature


_FILES = (
    _File(THERMAL_BOUNDS, "thermal", "thermal_id",
          {"min_generation_mw": "thermal.min_mw", "max_generation_mw": "thermal.max_mw",
           "cost_per_mwh": "thermal.cost"}, ("cost_per_mwh",)),
    _File(LINE_BOUNDS, "line", "line_id", {"direct_mw": "line.direct_mw", "reverse_mw": "line.reverse_mw"}, ()),
    # hydro_limits.py's columns (diversion and filling stay refused with their features, by withdrawals.py)
    _File(HYDRO_BOUNDS, "hydro", "hydro_id", {column: hydro_quantity(column) for column in LIMITS}, (), (WITHDRAWAL,),
          REFUSED_018),
)
HYDRO_COLUMNS = ("block_id", *LIMITS)  # what withdrawals.py leaves to this module
HYDRO_OUT = ("min_turbined_m3s", "max_turbined_m3s", "min_generation_mw", "max_generation_mw")
_OUT_OF_SERVICE = {
    "thermal": ("thermal.min_mw", "thermal.max_mw"), "line": ("line.direct_mw", "line.reverse_mw"),
    # a plant out of service generates nothing; its reservoir and spillway still pass water (HYDRO_OUT)
    "hydro": (*(hydro_quantity(column) for column in HYDRO_OUT), IN_SERVICE),
}


def read_bounds(
    files: CaseFiles, stages: tuple[StageSpec, ...], thermals: tuple[Thermal, ...], lines: tuple[Line, ...],
    hydros: tuple[Hydro, ...],
) -> Overrides:
    """Every override of the three files and of the entities' service windows, each checked."""
    ids = {"thermal": {t.id for t in thermals}, "line": {line.id for line in lines}, "hydro": {h.id for h in hydros}}
    overrides: Overrides = {}
    for spec in _FILES:
        if files.exists(spec.name):
            overrides.update(_read_file(files, spec, stages, ids[spec.kind]))
    registries = (("thermal", THERMALS, "thermals"), ("line", LINES, "lines"), ("hydro", HYDROS, "hydros"))
    for kind, registry, key in registries:
        for entity, out_stages in windows(files, registry, key, kind, stages).items():
            for stage in out_stages:
                for block in (None, *(b.id for b in stage.blocks)):
                    for quantity in _OUT_OF_SERVICE[kind]:
                        overrides[(quantity, entity, stage.id, block)] = 0.0
    _check_ranges(overrides, stages, thermals)
    check_hydro_limits(HYDRO_BOUNDS, overrides, stages, hydros)
    return overrides


def _read_file(files: CaseFiles, spec: _File, stages: tuple[StageSpec, ...], ids: set[int]) -> Overrides:
    raw = files.parquet(spec.name)  # block_id and the values are nullable: read them apart
    # hydro_bounds: withdrawals.py has read the file first and refused any other column that holds a value
    others = tuple(raw.column_names) if spec.elsewhere else ()
    keys = files.table(spec.name, {spec.key: INT, "stage_id": INT}, read_apart=("block_id", *spec.columns, *others))
    values = {c: nullable_numbers(spec.name, raw, c, integer=c == "block_id")
              for c in ("block_id", *spec.columns) if c in raw.column_names}
    blocks_of = {s.id: {b.id for b in s.blocks} for s in stages}
    out: Overrides = {}
    for row, (entity, stage) in enumerate(zip(keys[spec.key], keys["stage_id"], strict=True)):
        entity, stage = int(entity), int(stage)
        block = values["block_id"][row] if "block_id" in values else None
        where = f"{spec.kind} {entity}, stage {stage}" + ("" if block is None else f", block {block:g}")
        if entity not in ids:
            raise CaseError(spec.name, where, spec.key, f"refers to {spec.kind} {entity}, which is not defined")
        if stage not in blocks_of:
            raise CaseError(spec.name, where, "stage_id", f"refers to stage {stage}, not in stages.json")
        if block is not None and (block != int(block) or int(block) not in blocks_of[stage]):
            raise CaseError(spec.name, where, "block_id", f"refers to block {block:g}, not a block of stage {stage}")
        block_id = None if block is None else int(block)
        for column, quantity in spec.columns.items():
            value = values.get(column, [None] * (row + 1))[row]
            if value is None:
                continue
            if spec.refused and column in spec.refused:
                raise unsupported(spec.name, where, column, spec.refused[column])
            if block_id is not None and column in spec.stage_only:
                raise unsupported(spec.name, where, column, f"a per-block {column}")
            if not math.isfinite(value) or value < 0.0:
                raise CaseError(spec.name, where, column, f"must be finite and >= 0, got {value}")
            if (quantity, entity, stage, block_id) in out:
                raise CaseError(spec.name, where, column, "is given twice for this entity, stage and block")
            out[(quantity, entity, stage, block_id)] = value
    return out


def windows(
    files: CaseFiles, registry: str, key: str, kind: str, stages: tuple[StageSpec, ...]
) -> dict[int, list[StageSpec]]:
    """The stages each entity of ``registry`` is out of service in (the system reader checked the types)."""
    if not files.exists(registry):  # an optional registry (non-controllable sources)
        return {}
    data = files.json(registry).data.get(key)
    out: dict[int, list[StageSpec]] = {}
    for index, item in enumerate(data if isinstance(data, list) else []):
        if not isinstance(item, dict) or not any(item.get(k) is not None for k in WINDOW):
            continue
        record = Record(registry, entity_name(kind)(index, item), item)
        entry = record.integer("entry_stage_id", None, minimum=0)
        exit_ = record.integer("exit_stage_id", None, minimum=0)
        if entry is not None and exit_ is not None and exit_ <= entry:
            raise record.error("exit_stage_id", f"is {exit_}, not after entry_stage_id {entry}")
        out[item["id"]] = [
            s for s in stages if (entry is not None and s.id < entry) or (exit_ is not None and s.id >= exit_)
        ]
    return out


def _check_ranges(overrides: Overrides, stages: tuple[StageSpec, ...], thermals: tuple[Thermal, ...]) -> None:
    """A thermal's minimum may not exceed its maximum in any block once the overrides apply."""
    for thermal in thermals:
        for stage in stages:
            for block in stage.blocks:
                low = stage_bound(overrides, "thermal.min_mw", thermal.id, stage.id, block.id, thermal.min_mw)
                high = stage_bound(overrides, "thermal.max_mw", thermal.id, stage.id, block.id, thermal.max_mw)
                if low > high:
                    raise CaseError(
                        THERMAL_BOUNDS, f"thermal {thermal.id}, stage {stage.id}, block {block.id}",
                        "min_generation_mw", f"is {low}, above the maximum generation {high}",
                    )

def check_out_of_service_plants(case: Case) -> None:
    """Refuse a plant out of service in a stage where it withdraws, evaporates or has FPHA planes.

    The Cobre 0.18.0 runs that fixed what "out of service" means had none of these; what Cobre does with
    them was not measured, so caudal does not guess.
    """
    for (quantity, hydro, stage, block), value in case.bound_overrides.items():
        if quantity != IN_SERVICE or block is not None or value > 0.0:
            continue
        for feature, table in (("a water withdrawal", case.withdrawals), ("evaporation", case.evaporation),
                               ("FPHA planes", case.fpha)):
            if (hydro, stage) in table:
                later = any(case.bound(IN_SERVICE, hydro, s.id, None, 1.0) > 0.0 for s in case.stages if s.id > stage)
                raise unsupported(HYDROS, f"hydro {hydro}", "entry_stage_id" if later else "exit_stage_id",
                                  f"{feature} in stage {stage}, where the plant is out of service")
