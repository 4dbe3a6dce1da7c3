"""Stage-varying penalty costs: ``constraints/penalty_overrides_{bus,line,hydro,ncs}.parquet``.

Each file holds sparse rows ``(entity id, stage id, cost columns...)``: a
non-null cost replaces, in that stage only, the entity's own cost (its
``penalties`` object or registry field) or else ``penalties.json``'s. Both
format versions name and lay out the files alike. The costs land in the same
``(quantity, entity id, stage id, None) -> value`` map as the stage-varying
bounds, which the formulation consults through :meth:`Case.bound`, under the
quantity names below (``bus.excess_cost``, ``hydro.spillage_cost``, ...).
Checked against Cobre 0.5.1 and 0.18.0 runs (``tests/test_cobre_penalty_overrides.py``).

Overrides of the evaporation and withdrawal violation costs are refused by
name: Cobre splits each into a cost per direction and the stage override's
effect on them was not measured. The diversion and filling costs price
features caudal refuses, so their overrides change nothing and are accepted.
The storage-below cost prices nothing either (the minimum storage is a hard
bound, as in Cobre): its overrides are accepted with a warning that says so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

from caudal.hydro.cobre.case import Case, Hydro, HydroPenalties, StageSpec
from caudal.hydro.cobre.errors import CaseError, CaseWarning, unsupported
from caudal.hydro.cobre.files import INT, CaseFiles, nullable_numbers
from caudal.hydro.cobre.system import MODELLED_HYDRO_PENALTIES

Overrides = dict[tuple[str, int, int, "int | None"], float]

_NO_EFFECT = "storage_violation_below_cost"
HYDRO_COSTS = (*(c for c in MODELLED_HYDRO_PENALTIES if c != _NO_EFFECT), "fpha_turbined_cost")
"""The hydro cost columns caudal applies per stage (quantity ``hydro.<column>``)."""

_PRICING_REFUSED_FEATURES = ("diversion_cost", "filling_target_violation_cost")
_NOT_MEASURED = ("evaporation_violation_cost", "water_withdrawal_violation_cost")


@dataclass(frozen=True)
class _File:
    name: str
    kind: str  # the entity kind the messages and the id sets use
    key: str  # the entity column
    columns: tuple[str, ...]  # the cost columns applied, each as quantity ``prefix.column``
    prefix: str


NCS_FILE = "constraints/penalty_overrides_ncs.parquet"
_FILES = (
    _File("constraints/penalty_overrides_bus.parquet", "bus", "bus_id", ("excess_cost",), "bus"),
    _File("constraints/penalty_overrides_line.parquet", "line", "line_id", ("exchange_cost",), "line"),
    _File("constraints/penalty_overrides_hydro.parquet", "hydro", "hydro_id", HYDRO_COSTS, "hydro"),
)
FILE_NAMES = tuple(spec.name.split("/", 1)[1] for spec in (*_FILES, _File(NCS_FILE, "", "", (), "")))


class PenaltyWarning(CaseWarning):
    """A penalty override that Cobre 0.5.1 reads but does not apply: caudal follows it and says so."""


def read_penalty_overrides(
    files: CaseFiles, stages: tuple[StageSpec, ...], ids: dict[str, set[int]], version: str
) -> Overrides:
    """Every override of the four files, each checked; ``ids`` maps bus/line/hydro/source to the known ids.

    The sources' file keys its rows by ``source_id`` in 0.5.x and by ``ncs_id``
    in 0.18 (each Cobre rejects the other name). Cobre 0.5.1 checks that file
    but leaves the curtailment costs as they were (measured on d15 variants,
    ``tests/test_cobre_penalty_overrides.py``); so does caudal on a 0.5.x case,
    with a warning, so that both give the same costs.
    """
    stage_ids = {s.id for s in stages}
    key = "source_id" if version == "0.5" else "ncs_id"
    out: Overrides = {}
    for spec in (*_FILES, _File(NCS_FILE, "source", key, ("curtailment_cost",), "source")):
        if files.exists(spec.name):
            out.update(_read_file(files, spec, stage_ids, ids.get(spec.kind, set())))
    if version == "0.5" and any(quantity == "source.curtailment_cost" for quantity, *_ in out):
        warnings.warn(
            f"{NCS_FILE}: the stage curtailment costs are not applied: Cobre 0.5.1 does not apply them "
            "(caudal follows it on 0.5.x cases; Cobre 0.18 cases apply them)",
            PenaltyWarning,
            stacklevel=3,
        )
        out = {k: v for k, v in out.items() if k[0] != "source.curtailment_cost"}
    return out


def _read_file(files: CaseFiles, spec: _File, stage_ids: set[int], ids: set[int]) -> Overrides:
    accepted = spec.columns + ((*_PRICING_REFUSED_FEATURES, *_NOT_MEASURED, _NO_EFFECT) if spec.kind == "hydro" else ())
    keys = files.table(spec.name, {spec.key: INT, "stage_id": INT}, read_apart=accepted)
    raw = files.parquet(spec.name)  # the cost columns are nullable: read them apart
    values = {c: nullable_numbers(spec.name, raw, c) for c in accepted if c in raw.column_names}
    out: Overrides = {}
    without_effect = False
    for row, (entity, stage) in enumerate(zip(keys[spec.key], keys["stage_id"], strict=True)):
        entity, stage = int(entity), int(stage)
        where = f"{spec.kind} {entity}, stage {stage}"
        if entity not in ids:
            raise CaseError(spec.name, where, spec.key, f"refers to {spec.kind} {entity}, which is not defined")
        if stage not in stage_ids:
            raise CaseError(spec.name, where, "stage_id", f"refers to stage {stage}, not in stages.json")
        for column, column_values in values.items():
            value = column_values[row]
            if value is None:
                continue
            if not math.isfinite(value) or value < 0.0:
                raise CaseError(spec.name, where, column, f"must be finite and >= 0, got {value}")
            if column in _NOT_MEASURED:
                raise unsupported(spec.name, where, column, f"a stage-varying {column}")
            if column in _PRICING_REFUSED_FEATURES:
                continue
            if column == _NO_EFFECT:
                without_effect = True
                continue
            key = (f"{spec.prefix}.{column}", entity, stage, None)
            if key in out:
                raise CaseError(spec.name, where, column, "is given twice for this entity and stage")
            out[key] = value
    if without_effect:
        warnings.warn(
            f"{spec.name}: {_NO_EFFECT} has no effect: the minimum storage is a hard bound, as in Cobre",
            PenaltyWarning,
            stacklevel=4,
        )
    return out


_HYDRO_FIELDS = {
    "spillage": "spillage_cost",
    "turbined_below": "turbined_violation_below_cost",
    "outflow_below": "outflow_violation_below_cost",
    "outflow_above": "outflow_violation_above_cost",
    "generation_below": "generation_violation_below_cost",
}


def stage_hydro_penalties(case: Case, hydro: Hydro, stage: int) -> HydroPenalties:
    """The plant's penalties in ``stage``: its stage overrides where given, else its own."""
    own = hydro.penalties
    changes = {
        name: case.bound(f"hydro.{column}", hydro.id, stage, None, getattr(own, name))
        for name, column in _HYDRO_FIELDS.items()
    }
    return replace(own, **changes)


def penalty_entities(case: Case) -> dict[str, set[int]]:
    """The ids each override file may refer to."""
    return {
        "bus": {b.id for b in case.buses},
        "line": {line.id for line in case.lines},
        "hydro": {h.id for h in case.hydros},
        "source": {s.id for s in case.sources},
    }
