"""Build one validated ``Case`` from the records a format's reader parsed.

The 0.5.x reader (:mod:`caudal.hydro.cobre.reader`) and the 0.18 reader
(:mod:`caudal.hydro.cobre.format_018.reader`) parse different files into the
same records (timeline, system, initial conditions, series statistics,
sources, withdrawals, generic constraints). Turning those records into a
``Case`` and checking the files against each other is the same for both, so
it lives here once: a field added to ``Case`` is filled in one place, and a
cross-file check cannot apply to one format and be forgotten in the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from caudal.hydro.cobre.case import (
    ArModel,
    Bus,
    Case,
    GenericConstraint,
    Hydro,
    Line,
    SeriesStats,
    Settings,
    Source,
    Thermal,
)
from caudal.hydro.cobre.correlation import Correlation, read_correlation
from caudal.hydro.cobre.correlation import check_entities as check_correlated_entities
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.generic import check_entities
from caudal.hydro.cobre.scenarios import INFLOW_STATS, LOAD_STATS, InitialConditions, read_load_factors
from caudal.hydro.cobre.sources import check_buses
from caudal.hydro.cobre.system import System
from caudal.hydro.cobre.timeline import Timeline
from caudal.hydro.cobre.validation import validate
from caudal.hydro.cobre.withdrawals import Withdrawals, check_hydros

EMPTY_STATS = SeriesStats({}, {})

_Entity = TypeVar("_Entity", Bus, Line, Thermal, Hydro)


def assemble_case(
    files: CaseFiles,
    timeline: Timeline,
    system: System,
    initial: InitialConditions,
    *,
    settings: Settings,
    inflow_stats: SeriesStats | None,
    ar_models: dict[tuple[int, int], ArModel],
    load_stats: SeriesStats | None,
    sources: tuple[Source, ...],
    availability: dict[tuple[int, int], float],
    withdrawals: Withdrawals,
    generic: tuple[GenericConstraint, ...],
) -> Case:
    """The case as both formats describe it, entities in id order; not yet checked across files."""
    return Case(
        root=str(files.root),
        settings=settings,
        stages=timeline.stages,
        pre_study=timeline.pre_study,
        annual_discount_rate=timeline.annual_discount_rate,
        buses=sorted_by_id(system.buses),
        lines=sorted_by_id(system.lines),
        thermals=sorted_by_id(system.thermals),
        hydros=sorted_by_id(system.hydros),
        excess_cost=system.excess_cost,
        initial_storage=initial.storage,
        past_inflows=initial.past_inflows,
        month_so_far=initial.month_so_far,
        inflow_stats=inflow_stats if inflow_stats is not None else EMPTY_STATS,
        ar_models=ar_models,
        load_stats=load_stats if load_stats is not None else EMPTY_STATS,
        load_factors=read_load_factors(files),
        state_flags=timeline.state_flags,
        sources=sources,
        source_availability=availability,
        withdrawals=withdrawals.targets,
        withdrawal_costs=withdrawals.costs_of_withdrawing_plants(),
        generic_constraints=generic,
    )


def check_across_files(
    case: Case, withdrawals: Withdrawals, generic: tuple[GenericConstraint, ...]
) -> None:
    """Check the files against each other, then let run-of-river plants start at their minimum storage.

    Run-of-river plants may be left out of ``initial_conditions.json`` (d16 does), so they start at
    their minimum (which is their maximum) once validation has accepted the plant.
    """
    check_buses(case.sources, {b.id for b in case.buses})
    check_hydros(withdrawals, {h.id for h in case.hydros})
    check_entities(generic, {
        "thermal": {t.id for t in case.thermals}, "hydro": {h.id for h in case.hydros},
        "line": {line.id for line in case.lines},
    })
    validate(case)
    for hydro in case.hydros:
        case.initial_storage.setdefault(hydro.id, hydro.min_storage)


def sorted_by_id(entities: Iterable[_Entity]) -> tuple[_Entity, ...]:
    """The entities in id order: the order the formulation and the results use, whatever the file's order."""
    return tuple(sorted(entities, key=lambda entity: entity.id))


def require_series_stats(case: Case, inflow_stats: SeriesStats | None, load_stats: SeriesStats | None) -> None:
    """Refuse a case without the inflow statistics its hydro plants need (without load ones, no bus has load)."""
    for name, stats, needed in ((INFLOW_STATS, inflow_stats, bool(case.hydros)), (LOAD_STATS, load_stats, False)):
        if stats is None and needed:
            raise CaseError(name, None, None, "is missing; caudal needs the seasonal statistics of every series")


def read_case_correlation(files: CaseFiles, case: Case, methods: tuple[str, ...]) -> Correlation | None:
    """:func:`read_correlation` for ``case``, each entity checked against the case's plants, buses and sources."""
    correlation = read_correlation(files, [stage.id for stage in case.stages], methods, tuple(case.pre_study))
    if correlation is not None:
        known = {"inflow": {h.id for h in case.hydros}, "load": {b.id for b in case.buses},
                 "ncs": {s.id for s in case.sources}}
        check_correlated_entities(correlation, known)
    return correlation
