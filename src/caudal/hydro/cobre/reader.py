"""Read a Cobre case directory into a validated :class:`~caudal.hydro.cobre.case.Case`.

The order matters only for the messages: unsupported files are refused first
(no point checking the data of a feature caudal cannot model), then each file
is read and checked on its own, then the files are checked against each other.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from caudal.hydro.cobre.assembly import assemble_case, check_across_files, read_case_correlation, require_series_stats
from caudal.hydro.cobre.case import Case, Hydro, Settings
from caudal.hydro.cobre.config import read_settings
from caudal.hydro.cobre.errors import CaseWarning
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.generic import read_generic_constraints
from caudal.hydro.cobre.hydro_limits import LIMITS, read_hydro_limits
from caudal.hydro.cobre.inflow_history import estimate_inflows
from caudal.hydro.cobre.openings import noise_from_table
from caudal.hydro.cobre.penalty_overrides import penalty_entities, read_penalty_overrides
from caudal.hydro.cobre.physics import read_hydro_physics
from caudal.hydro.cobre.production import FILE as PRODUCTION_MODELS
from caudal.hydro.cobre.production import ProductionModel, check_plants, overrides, read_production_models
from caudal.hydro.cobre.scenarios import (
    INFLOW_STATS,
    LOAD_STATS,
    read_ar_models,
    read_initial_conditions,
    read_noise_table,
    read_series_stats,
)
from caudal.hydro.cobre.sources import read_sources, stochastic_availability
from caudal.hydro.cobre.system import HYDROS, read_system
from caudal.hydro.cobre.timeline import read_timeline
from caudal.hydro.cobre.unsupported import refuse_unsupported_files
from caudal.hydro.cobre.withdrawals import read_withdrawals


def read_case(root: str | Path) -> Case:
    """Read and validate every file of the case; raises ``CaseError`` on the first problem."""
    files = CaseFiles(root)
    refuse_unsupported_files(files)
    settings = read_settings(files)
    timeline = read_timeline(files)
    system = read_system(files)
    _warn_unused_penalty(settings, system.inflow_penalty)
    sources, availability = read_sources(files, timeline.stages)
    withdrawals = read_withdrawals(files, {s.id for s in timeline.stages}, read_apart=LIMITS)
    generic = read_generic_constraints(files, timeline.stages)
    initial = read_initial_conditions(files)
    inflow_stats = read_series_stats(files, INFLOW_STATS, "hydro_id", "mean_m3s", "std_m3s")
    ar_models = read_ar_models(files)
    estimated = estimate_inflows(files, timeline.stages, timeline.pre_study, sorted(h.id for h in system.hydros))
    if estimated is not None:
        inflow_stats, ar_models = estimated.stats, estimated.ar_models
    load_stats = read_series_stats(files, LOAD_STATS, "bus_id", "mean_mw", "std_mw")
    case = assemble_case(
        files, timeline, system, initial, settings=settings, inflow_stats=inflow_stats, ar_models=ar_models,
        load_stats=load_stats, sources=sources, availability=availability, withdrawals=withdrawals, generic=generic,
    )
    if estimated is not None:
        case.annual_components = estimated.annual
    models = _production_models(files, system.hydros, len(timeline.stages))
    case.productivity_overrides = overrides(models, {h.id: h.productivity for h in system.hydros})
    case.bound_overrides.update(read_hydro_limits(files, case.stages, case.hydros))
    read_hydro_physics(files, case, models)
    case.bound_overrides.update(read_penalty_overrides(files, case.stages, penalty_entities(case), "0.5"))
    case.source_noise = stochastic_availability(files, case.stages)
    require_series_stats(case, inflow_stats, load_stats)
    check_across_files(case, withdrawals, generic)
    case.correlation = read_case_correlation(files, case, ("spectral", "cholesky"))
    if estimated is not None and estimated.correlation is not None:
        case.correlation = estimated.correlation  # no correlation.json: estimate_inflows checked
    table = read_noise_table(files)
    if table is not None:
        case.noise_openings = noise_from_table(case, table)
    return case



def _production_models(
    files: CaseFiles, hydros: tuple[Hydro, ...], n_stages: int
) -> dict[int, ProductionModel]:
    """hydro_production_models.json's models (productivity overrides, FPHA ranges), if the file is present."""
    if not files.exists(PRODUCTION_MODELS):
        return {}
    base = {h.id: h.productivity for h in hydros}
    models = read_production_models(files, n_stages, "productivity_override", default=base)
    check_plants(models, set(base), HYDROS)
    return models


def _warn_unused_penalty(settings: Settings, penalty: float) -> None:
    """config.json's penalty_cost is documented but Cobre 0.5.1 does not use it (measured): say so."""
    given = settings.config_inflow_penalty
    if given is None or given == penalty or settings.inflow_method != "penalty":
        return
    warnings.warn(
        f"config.json: modeling.inflow_non_negativity.penalty_cost ({given:g}) is not used: like Cobre 0.5.1, "
        f"caudal takes the inflow non-negativity cost from penalties.json (hydro.inflow_nonnegativity_cost, "
        f"here {penalty:g}) or the plant's penalties",
        CaseWarning,
        stacklevel=3,
    )
