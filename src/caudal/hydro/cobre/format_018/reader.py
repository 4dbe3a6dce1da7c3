"""Read a Cobre 0.18 case directory into the same validated ``Case`` as a 0.5.x one.

The formulation, training, simulation and checkpoints never see the format:
this reader fills the very records the 0.5.x reader fills, then runs the same
cross-file checks (:mod:`caudal.hydro.cobre.validation`). The order matters
only for the messages: unsupported files first, then each file on its own,
then the files against each other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from caudal.hydro.cobre.assembly import assemble_case, check_across_files, read_case_correlation, require_series_stats
from caudal.hydro.cobre.case import Case
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.external_inflows import EXTERNAL
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.format_018.ar_ratios import GivenAnnual
from caudal.hydro.cobre.format_018.bounds import HYDRO_COLUMNS, check_out_of_service_plants, read_bounds, windows
from caudal.hydro.cobre.format_018.config import read_config
from caudal.hydro.cobre.format_018.estimation import estimate_inflows_018
from caudal.hydro.cobre.format_018.external import external_inflow_stats
from caudal.hydro.cobre.format_018.generic import read_generic_constraints
from caudal.hydro.cobre.format_018.scenarios import read_initial_conditions, refuse_unsupported_files
from caudal.hydro.cobre.format_018.system import read_system, source_in_service
from caudal.hydro.cobre.format_018.timeline import read_timeline
from caudal.hydro.cobre.fpha_fitting_018 import fit_planes_018
from caudal.hydro.cobre.openings import noise_from_table
from caudal.hydro.cobre.par_a import read_annual_components
from caudal.hydro.cobre.penalty_overrides import penalty_entities, read_penalty_overrides
from caudal.hydro.cobre.physics import read_hydro_physics
from caudal.hydro.cobre.scenarios import (
    INFLOW_STATS,
    LOAD_STATS,
    NOISE_OPENINGS,
    read_noise_table,
    read_series_stats,
)
from caudal.hydro.cobre.sources import FILE as SOURCES
from caudal.hydro.cobre.sources import read_sources, stochastic_availability
from caudal.hydro.cobre.system import HYDROS
from caudal.hydro.cobre.withdrawals import read_withdrawals

OPENINGS_SOURCE = "training.scenario_source.openings.source"


def read_case(root: str | Path) -> Case:
    """Read and validate every file of a 0.18 case; raises ``CaseError`` on the first problem."""
    files = CaseFiles(root)
    refuse_unsupported_files(files)
    config = read_config(files)
    timeline = read_timeline(files)
    system, productivity, models = read_system(files, timeline.stages[0].start,
                                                tuple(stage.season_id for stage in timeline.stages))
    start = timeline.stages[0].start
    sources, availability = read_sources(files, timeline.stages, lambda record: source_in_service(record, start))
    closed: set[tuple[int, int]] = set()  # (source, stage) out of service: no availability, random or not
    for source_id, out_of_service in windows(files, SOURCES, "non_controllable_sources", "source",
                                             timeline.stages).items():
        availability.update({(source_id, stage.id): 0.0 for stage in out_of_service})
        closed.update((source_id, stage.id) for stage in out_of_service)
    withdrawals = read_withdrawals(files, {s.id for s in timeline.stages}, read_apart=HYDRO_COLUMNS)
    generic = read_generic_constraints(files, timeline.stages)
    hydro_ids = sorted(hydro.id for hydro in system.hydros)
    external = config.settings.training.inflow_scheme == EXTERNAL
    estimated = estimate_inflows_018(files, timeline.stages, timeline.pre_study, hydro_ids, external_scheme=external)
    inflow_stats = None
    if estimated is not None:
        inflow_stats = estimated.stats
    elif not external:  # 0.18 fits them to the external scenarios instead
        inflow_stats = read_series_stats(files, INFLOW_STATS, "hydro_id", "mean_m3s", "std_m3s")
    given_annual = read_annual_components(files) if estimated is None else {}
    annual = estimated.annual if estimated else given_annual
    annual_hydros = frozenset(hydro_id for hydro_id, _ in annual)
    stage_seasons = [(stage.id, stage.season_id) for stage in timeline.stages] + list(timeline.pre_study.items())
    initial, ar_models = read_initial_conditions(files, set(hydro_ids), stage_seasons,
                                                 estimated and estimated.ar_models, annual_hydros,
                                                 GivenAnnual(given_annual, inflow_stats) if given_annual else None)
    load_stats = read_series_stats(files, LOAD_STATS, "bus_id", "mean_mw", "std_mw")
    case = assemble_case(
        files, timeline, system, initial, settings=config.settings, inflow_stats=inflow_stats, ar_models=ar_models,
        load_stats=load_stats, sources=sources, availability=availability, withdrawals=withdrawals, generic=generic,
    )
    if estimated is not None:
        case.annual_components = estimated.annual
    fitted = external_inflow_stats(case)
    if fitted is not None:
        case.inflow_stats = inflow_stats = fitted
    case.productivity_overrides = productivity
    for hydro in case.hydros:  # Cobre 0.18.0 starts a plant below its minimum storage at that minimum (measured)
        if hydro.id in case.initial_storage:  # a run-of-river plant may be left out (validation checks the rest)
            case.initial_storage[hydro.id] = max(case.initial_storage[hydro.id], hydro.min_storage)
    case.bound_overrides = read_bounds(files, case.stages, case.thermals, case.lines, case.hydros)
    read_hydro_physics(files, case, models, fit_planes=fit_planes_018)
    check_out_of_service_plants(case)
    case.bound_overrides.update(read_penalty_overrides(files, case.stages, penalty_entities(case), "0.18"))
    case.source_noise = stochastic_availability(files, case.stages, closed)
    require_series_stats(case, inflow_stats, load_stats)
    bus_ids = {b.id for b in case.buses}
    for hydro in case.hydros:  # before validate(), whose message would name 0.5.x's hydro bus_id
        for i, bus in enumerate([g.bus for g in hydro.groups] or [hydro.bus]):
            if bus not in bus_ids:
                raise CaseError(HYDROS, f"hydro {hydro.id}", f"unit_groups[{i}].bus_id",
                                f"refers to bus {bus}, which is not defined")
    check_across_files(case, withdrawals, generic)
    case.correlation = read_case_correlation(files, case, ("spectral",))
    if estimated is not None and estimated.correlation is not None:
        case.correlation = estimated.correlation  # no correlation.json: estimate_inflows checked
    case.noise_openings = _noise_openings(files, case, config.openings_from_file)
    return case


def _noise_openings(files: CaseFiles, case: Case, from_file: bool) -> list[np.ndarray] | None:
    """The tree of ``noise_openings.parquet`` when config.json asks for it (0.18 reads it only then)."""
    if not from_file:
        if files.exists(NOISE_OPENINGS):
            raise CaseError(
                NOISE_OPENINGS, None, None,
                f"is present but config.json's {OPENINGS_SOURCE} is not 'file', so Cobre 0.18 would not read it: "
                "set it to 'file' or remove the file",
            )
        return None
    table = read_noise_table(files)
    if table is None:
        raise CaseError(NOISE_OPENINGS, None, None, f"is missing, and config.json's {OPENINGS_SOURCE} is 'file'")
    return noise_from_table(case, table)
