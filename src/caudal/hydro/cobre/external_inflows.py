"""``scenarios/external_inflow_scenarios.parquet``: forward passes on inflows the user gives.

With ``training.scenario_source.inflow.scheme = "external"`` Cobre's forward
passes take their inflows from this table (one row per stage, scenario and
hydro, in m3/s) while the backward pass still builds its cuts on the opening
tree of the inflow model. In caudal these are forward-only realisations of the
stages' ``inflow[<hydro id>]`` right-hand sides (``Problem.compile(
forward_realisations=...)``), drawn like out-of-sample ones: each forward pass
takes one of a stage's scenarios, all equally likely.

The inflow row of a plant with PAR(p) lags holds its lags on the left-hand
side, so a fixed inflow is no right-hand side there: external scenarios on
plants with inflow lags are refused by name, as is the table without the
scheme (or the scheme without the table).
"""

from __future__ import annotations

import numpy as np

from caudal.hydro.cobre.case import Case
from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles
from caudal.hydro.cobre.inflows import InflowModel

EXTERNAL_INFLOWS = "scenarios/external_inflow_scenarios.parquet"
CONFIG = "config.json"
SCHEME_FIELD = "training.scenario_source.inflow.scheme"
EXTERNAL = "external"


def inflow_parameter(hydro_id: int) -> str:
    """The name of a plant's inflow right-hand side in the stage LPs (formulation.py's ``_add_inflow``)."""
    return f"inflow[{hydro_id}]"


def uses_external_inflows(case: Case) -> bool:
    return case.settings.training.inflow_scheme == EXTERNAL


def inflows_patched_forward(case: Case) -> bool:
    """Whether forward passes replace the inflow right-hand sides (external or out-of-sample schemes)."""
    return case.settings.training.inflow_scheme != "in_sample"


def read_external_inflows(case: Case, inflows: InflowModel) -> list[dict[str, np.ndarray]] | None:
    """Per stage, each plant's inflow parameter to its external scenarios (float64[S_t]), or ``None`` (no scheme).

    Every (stage, hydro) pair needs scenarios 0, 1, ..., S_t - 1, the same count for every plant of a stage.
    """
    files = CaseFiles(case.root)
    present = files.exists(EXTERNAL_INFLOWS)
    if not uses_external_inflows(case):
        if present:
            scheme = case.settings.training.inflow_scheme
            raise unsupported(CONFIG, None, SCHEME_FIELD, f"{EXTERNAL_INFLOWS} with the {scheme!r} inflow scheme")
        return None
    if not present:
        raise CaseError(CONFIG, None, SCHEME_FIELD, f"is {EXTERNAL!r} but {EXTERNAL_INFLOWS} is missing")
    lagged = [hydro.id for h, hydro in enumerate(case.hydros) if int(inflows.n_lags[h]) > 0]
    if lagged:
        raise unsupported(EXTERNAL_INFLOWS, f"hydro {lagged[0]}", None,
                          "external inflow scenarios for a plant with PAR(p) inflow lags")
    return read_external_tables(case)


def read_external_tables(case: Case) -> list[dict[str, np.ndarray]]:
    """The checked rows of external_inflow_scenarios.parquet, per stage: inflow parameter -> float64[S_t]."""
    table = CaseFiles(case.root).table(
        EXTERNAL_INFLOWS, {"stage_id": INT, "scenario_id": INT, "hydro_id": INT, "value_m3s": FLOAT}
    )
    return _tables(case, table)


def _tables(case: Case, table: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    stages, scenarios, hydros, values = table["stage_id"], table["scenario_id"], table["hydro_id"], table["value_m3s"]
    hydro_ids = [hydro.id for hydro in case.hydros]
    n_stages = len(case.stages)
    checks = (
        ("hydro_id", ~np.isin(hydros, hydro_ids), "is not a hydro of system/hydros.json"),
        ("stage_id", (stages < 0) | (stages >= n_stages), f"must be a stage of stages.json (0 to {n_stages - 1})"),
        ("scenario_id", scenarios < 0, "must be 0 or more"),
    )
    # (files.table has refused values that are not finite or beyond MAX_MAGNITUDE, naming the row.)
    for field, bad, problem in checks:  # whole columns at once: a table can hold millions of rows
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            entity = f"hydro {hydros[row]}, stage {stages[row]}, scenario {scenarios[row]}"
            raise CaseError(EXTERNAL_INFLOWS, entity, field, problem)
    n_hydros = len(hydro_ids)
    group = stages * n_hydros + np.searchsorted(hydro_ids, hydros)  # hydro_ids are sorted (assembly.sorted_by_id)
    order = np.lexsort((scenarios, group))
    bounds = np.searchsorted(group[order], np.arange(n_stages * n_hydros + 1))
    result = []
    for t in range(n_stages):
        per_hydro: dict[str, np.ndarray] = {}
        for h, hydro_id in enumerate(hydro_ids):
            rows = order[bounds[t * n_hydros + h]:bounds[t * n_hydros + h + 1]]
            entity = f"hydro {hydro_id}, stage {t}"
            if rows.size == 0:
                raise CaseError(EXTERNAL_INFLOWS, entity, "scenario_id", "has no scenario")
            if not np.array_equal(scenarios[rows], np.arange(rows.size)):
                raise CaseError(EXTERNAL_INFLOWS, entity, "scenario_id",
                                f"must number its scenarios 0, 1, ..., {rows.size - 1} once each")
            first = len(per_hydro[inflow_parameter(hydro_ids[0])]) if h else rows.size
            if rows.size != first:
                raise CaseError(EXTERNAL_INFLOWS, entity, "scenario_id",
                                f"has {rows.size} scenarios, hydro {hydro_ids[0]} {first}")
            per_hydro[inflow_parameter(hydro_id)] = values[rows].astype(np.float64)
        result.append(per_hydro)
    return result
