"""``initial_conditions.json`` of a 0.18 case, and the 0.18 files caudal does not read.

0.18 dropped ``past_inflows`` and added the history of past outflows and
thermal commitments, which caudal refuses when they list anything, and recent
inflow observations. PAR(p) models (``inflow_ar_coefficients.parquet``) read
their initial lags from realized inflow windows: ``inflow_history.parquet``
and those observations (:mod:`caudal.hydro.cobre.format_018.inflow_lags`).
Without an inflow model with lags the observations change nothing, so they
are checked and set aside, as Cobre 0.18.0 does (d28 costs the same with and
without its one observation). A history without the statistics and AR
coefficient files asks Cobre to estimate the model
(:mod:`caudal.hydro.cobre.format_018.estimation`), whose lags are seeded the
same way. Files of features
caudal does not model are refused when present, naming the file and the
first field that holds data (a registry that lists nothing is accepted, like
in 0.5.x).
"""

from __future__ import annotations

import json
from typing import Any

from caudal.hydro.cobre.case import ArModel
from caudal.hydro.cobre.errors import unsupported
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.format_018.ar_ratios import GivenAnnual, with_implied_ratios
from caudal.hydro.cobre.format_018.inflow_lags import Window, initial_lags, lag_orders, read_lags
from caudal.hydro.cobre.penalty_overrides import FILE_NAMES as PENALTY_FILES
from caudal.hydro.cobre.scenarios import (
    INITIAL,
    InitialConditions,
    hydro_entity_name,
    initial_storage,
    read_ar_models,
)
from caudal.hydro.cobre.timeline import read_dates
from caudal.hydro.cobre.unsupported import UNSUPPORTED_FILES

CONSTRAINTS_DIR = "constraints"
# The constraint files caudal reads: withdrawals (in hydro_bounds) and generic constraints.
READ_CONSTRAINTS = (
    "hydro_bounds.parquet", "generic_constraints.json", "generic_constraint_bounds.parquet", "thermal_bounds.parquet",
    "line_bounds.parquet",
)

REFUSED_FILES: dict[str, str] = {
    **UNSUPPORTED_FILES,
    "post_study_stages.json": "post-study stages (anticipated thermal dispatch past the horizon)",
    "system/tailrace_curves.parquet": "tailrace curves",
    "system/scalar_parameters.json": "scalar parameters (moved to constraints/generic_parameters.json in 0.18)",
}

_REFUSED_HISTORY = {
    "filling_storage": "reservoir filling",
    "past_defluences": "past outflows (water travel time)",
    "past_anticipated_commitments": "anticipated thermal commitments",
}
RECENT_OBSERVATIONS = "recent_observations"


def refuse_unsupported_files(files: CaseFiles) -> None:
    for name, feature in REFUSED_FILES.items():
        if files.exists(name):
            _refuse_file(files, name, feature)
    constraints = files.root / CONSTRAINTS_DIR
    if constraints.is_dir():
        for path in sorted(constraints.iterdir()):
            if path.name in READ_CONSTRAINTS or path.name in PENALTY_FILES:
                continue
            _refuse_file(
                files, f"{CONSTRAINTS_DIR}/{path.name}", "the stage-varying bounds or penalties of this file"
            )


def _refuse_file(files: CaseFiles, name: str, feature: str) -> None:
    """Refuse ``name``, naming its first field with data; a JSON file that lists nothing is accepted."""
    if not name.endswith(".json"):
        raise unsupported(name, None, None, feature)
    try:
        data = json.loads((files.root / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise unsupported(name, None, None, feature) from None
    if not isinstance(data, dict):
        raise unsupported(name, None, None, feature)
    for key, value in data.items():
        if key != "$schema" and _holds_data(value):
            raise unsupported(name, None, key, feature)


def _holds_data(value: Any) -> bool:
    return value not in (None, [], {})


def read_initial_conditions(
    files: CaseFiles, hydro_ids: set[int], stage_seasons: list[tuple[int, int | None]],
    estimated: dict[tuple[int, int], ArModel] | None = None, annual_hydros: frozenset[int] = frozenset(),
    given_annual: GivenAnnual | None = None,
) -> tuple[InitialConditions, dict[tuple[int, int], ArModel]]:
    """Initial storage and PAR(p) lags, with the AR models the lags belong to (empty when none).

    The models are ``estimated`` when the case fits them from history, else read from their file
    with the residual std ratios Cobre 0.18.0 derives (:mod:`caudal.hydro.cobre.format_018.ar_ratios`;
    ``stage_seasons``: every stage id, pre-study ones too, with its season); ``annual_hydros`` have an
    PAR(p)-A annual term, estimated or ``given_annual``, whose twelve lags start the same way.
    """
    doc = files.json(INITIAL)
    storage = initial_storage(doc)
    for key, feature in _REFUSED_HISTORY.items():
        if _holds_data(doc.raw(key, None)):
            raise doc.refuse(key, feature)
    observations = _read_recent_observations(doc, hydro_ids)
    doc.array("filling_storage")  # required by the format, even empty
    doc.finish()
    ar_models = read_ar_models(files) if estimated is None else estimated
    study_models = {key: model for key, model in (estimated or ar_models).items() if key[1] >= 0}
    pre_study_lags = None if estimated is None and not annual_hydros else read_lags(study_models)
    realized = initial_lags(files, lag_orders(ar_models), observations, hydro_ids, annual_hydros, pre_study_lags)
    if estimated is None:  # after initial_lags, which refuses the timelines the ratios' seasons assume
        ar_models = with_implied_ratios(files, ar_models, stage_seasons, given_annual)
    return InitialConditions(storage, realized.lags, realized.month_so_far), ar_models


def _read_recent_observations(doc: Record, hydro_ids: set[int]) -> list[Window]:
    """Each observation, checked; only an inflow model with lags reads them."""
    observations = []
    for record in doc.records(RECENT_OBSERVATIONS, hydro_entity_name, []):
        hydro_id = record.integer("hydro_id")
        if hydro_id not in hydro_ids:
            raise record.error("hydro_id", f"refers to hydro {hydro_id}, which is not defined")
        start, end = read_dates(record)
        value = record.number("value_m3s")  # incremental inflow: may be negative
        record.finish()
        observations.append(Window(hydro_id, start, end, value))
    return observations
