"""Stage-varying hydro limits: ``constraints/hydro_bounds.parquet``'s storage, flow and generation columns.

A row overrides, for one plant and stage, its maximum storage (hm3, at the
end of the stage), its turbined flow and generation ranges and its outflow
range; a null keeps the plant's own value. The formulation treats an override
exactly as the plant's own limit: the maxima are hard, the minima soft, a
shortfall priced by the plant's violation cost per unit and hour. 0.18 also
accepts per-block rows (``block_id``), read by ``format_018/bounds.py`` with
this module's checks; 0.5.x has no ``block_id`` and is read here.

What Cobre does, measured on d04 variants (``tests/test_cobre_hydro_bounds.py``,
docs/cobre.md): 0.5.1 applies every column as caudal does, except a minimum
storage, not measured beyond the plant's own (a hard bound, formulation.py);
0.18.0 applies the maxima of turbined flow and generation
and the outflow range as caudal does, but accepts and then ignores the minima
of turbined flow and generation, and prices a maximum storage in the first
stage otherwise than a hard bound. Those columns are refused by name. caudal
also refuses a maximum above the plant's own (0.18.0 refuses it too; 0.5.1's
effect is unclear) and a minimum above the maximum in force (0.18.0 panics).
"""


from __future__ import annotations

import math

from caudal.hydro.cobre.case import Hydro, StageSpec, stage_bound
from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.files import INT, CaseFiles, nullable_numbers

FILE = "constraints/hydro_bounds.parquet"

STORAGE = ("min_storage_hm3", "max_storage_hm3")
FLOWS = ("min_turbined_m3s", "max_turbined_m3s", "min_generation_mw", "max_generation_mw",
         "min_outflow_m3s", "max_outflow_m3s")
LIMITS = (*STORAGE, *FLOWS)

# Columns a format defines whose effect in Cobre caudal could not reproduce (measured, docs/cobre.md): refused
_MIN_STORAGE = ("a stage-varying minimum storage (only the plant's own minimum was measured against Cobre; "
                "Cobre 0.18.0 ignored a 190 hm3 one in the first stage of d04)")
REFUSED_05 = {"min_storage_hm3": _MIN_STORAGE}
REFUSED_018 = {
    "min_storage_hm3": _MIN_STORAGE,
    "max_storage_hm3": "a stage-varying maximum storage (Cobre 0.18.0's cost differs from the bound's in the "
                       "first stage, measured on d04)",
    "min_turbined_m3s": "a stage-varying minimum turbined flow (Cobre 0.18.0 accepts it but it changes nothing, "
                        "measured on d04)",
    "min_generation_mw": "a stage-varying minimum generation (Cobre 0.18.0 accepts it but it changes nothing, "
                         "measured on d04)",
}

# (min column, max column, the plant's attribute for each): the pairs checked against each other and the plant
_PAIRS = (
    ("min_storage_hm3", "max_storage_hm3", "min_storage", "max_storage"),
    ("min_turbined_m3s", "max_turbined_m3s", "min_turbined", "max_turbined"),
    ("min_generation_mw", "max_generation_mw", "min_generation", "max_generation"),
)

IN_SERVICE = "hydro.in_service"  # 0.0 in a stage outside the plant's entry/exit window (format_018/bounds.py)

Overrides = dict[tuple[str, int, int, "int | None"], float]


def quantity(column: str) -> str:
    """The key of a hydro_bounds column in :attr:`Case.bound_overrides`."""
    return f"hydro.{column}"


def check_hydro_limits(
    file: str, overrides: Overrides, stages: tuple[StageSpec, ...], hydros: tuple[Hydro, ...]
) -> None:
    """No maximum above the plant's own, no minimum above the maximum in force, in any stage and block."""
    for hydro in hydros:
        for stage in stages:
            for block in (None, *(b.id for b in stage.blocks)):
                for low_column, high_column, low_name, high_name in _PAIRS:
                    own_high = getattr(hydro, high_name)
                    where = f"hydro {hydro.id}, stage {stage.id}" + ("" if block is None else f", block {block}")
                    high = stage_bound(overrides, quantity(high_column), hydro.id, stage.id, block, own_high)
                    own_low = getattr(hydro, low_name)
                    low = stage_bound(overrides, quantity(low_column), hydro.id, stage.id, block, own_low)
                    if high > own_high:
                        raise CaseError(file, where, high_column,
                                        f"is {high:g}, above the plant's own {own_high:g}: declare the plant at its "
                                        "largest value and lower it in the stages where it is smaller")
                    if low > high:
                        raise CaseError(file, where, low_column, f"is {low:g}, above the maximum {high:g} in force")


def read_hydro_limits(files: CaseFiles, stages: tuple[StageSpec, ...], hydros: tuple[Hydro, ...]) -> Overrides:
    """0.5.x's per-stage limits (withdrawals.py has refused every column it and this reader do not read)."""
    if not files.exists(FILE):
        return {}
    raw = files.parquet(FILE)  # the limits are nullable: read them apart
    others = tuple(name for name in raw.column_names if name not in ("hydro_id", "stage_id"))
    keys = files.table(FILE, {"hydro_id": INT, "stage_id": INT}, read_apart=others)
    values = {column: nullable_numbers(FILE, raw, column) for column in LIMITS if column in raw.column_names}
    hydro_ids, stage_ids = {h.id for h in hydros}, {s.id for s in stages}
    out: Overrides = {}
    for row, (hydro, stage) in enumerate(zip(keys["hydro_id"], keys["stage_id"], strict=True)):
        hydro, stage = int(hydro), int(stage)
        where = f"hydro {hydro}, stage {stage}"
        for column, column_values in values.items():
            value = column_values[row]
            if value is None:
                continue
            if column in REFUSED_05:
                raise unsupported(FILE, where, column, REFUSED_05[column])
            if hydro not in hydro_ids:
                raise CaseError(FILE, where, "hydro_id", f"refers to hydro {hydro}, which is not defined")
            if stage not in stage_ids:
                raise CaseError(FILE, where, "stage_id", f"refers to stage {stage}, not in stages.json")
            if not math.isfinite(value) or value < 0.0:
                raise CaseError(FILE, where, column, f"must be finite and >= 0, got {value:g}")
            if (quantity(column), hydro, stage, None) in out:
                raise CaseError(FILE, where, column, "is given twice for this plant and stage")
            out[(quantity(column), hydro, stage, None)] = value
    check_hydro_limits(FILE, out, stages, hydros)
    return out
