"""Cross-file checks of a case: ids, references, cascades, coverage of the statistics.

Each file is checked on its own while it is read; what needs two files (a bus
id in hydros.json that buses.json must define, statistics for every hydro and
stage) is checked here, with errors naming the file that holds the bad value,
the entity and the field.
"""

from __future__ import annotations

from collections.abc import Iterable

from caudal.hydro.cobre.case import Case, SeriesStats
from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.scenarios import AR_COEFFICIENTS, INFLOW_STATS, INITIAL, LOAD_FACTORS, LOAD_STATS
from caudal.hydro.cobre.system import BUSES, HYDROS, LINES, THERMALS
from caudal.hydro.cobre.timeline import FILE as STAGES


def validate(case: Case) -> None:
    bus_ids = _unique(BUSES, "bus", [b.id for b in case.buses])
    _unique(LINES, "line", [line.id for line in case.lines])
    _unique(THERMALS, "thermal", [t.id for t in case.thermals])
    hydro_ids = _unique(HYDROS, "hydro", [h.id for h in case.hydros])
    if not case.buses:
        raise CaseError(BUSES, None, "buses", "must list at least one bus")
    for line in case.lines:
        _known(LINES, f"line {line.id}", "source_bus_id", line.source, bus_ids, "bus")
        _known(LINES, f"line {line.id}", "target_bus_id", line.target, bus_ids, "bus")
    for thermal in case.thermals:
        _known(THERMALS, f"thermal {thermal.id}", "bus_id", thermal.bus, bus_ids, "bus")
    for hydro in case.hydros:
        _known(HYDROS, f"hydro {hydro.id}", "bus_id", hydro.bus, bus_ids, "bus")
        if hydro.downstream is not None:
            _known(HYDROS, f"hydro {hydro.id}", "downstream_id", hydro.downstream, hydro_ids, "hydro")
    _check_cascade(case)
    _check_initial_conditions(case, hydro_ids)
    _check_stats(case.inflow_stats, INFLOW_STATS, "hydro", hydro_ids, case, allow_pre_study=True)
    if case.load_stats.mean:  # without load_seasonal_stats.parquet no bus has load (the file is optional)
        _check_stats(case.load_stats, LOAD_STATS, "bus", bus_ids, case, allow_pre_study=False)
    _check_ar_models(case, hydro_ids)
    _check_load_factors(case, bus_ids)
    _check_state_flags(case)


def _unique(file: str, kind: str, ids: list[int]) -> set[int]:
    seen: set[int] = set()
    for entity_id in ids:
        if entity_id in seen:
            raise CaseError(file, f"{kind} {entity_id}", "id", f"{kind} id {entity_id} is used twice")
        seen.add(entity_id)
    return seen


def _known(file: str, entity: str, field: str, value: int, ids: Iterable[int], kind: str) -> None:
    if value not in ids:
        raise CaseError(file, entity, field, f"refers to {kind} {value}, which is not defined")


def _check_cascade(case: Case) -> None:
    downstream = {h.id: h.downstream for h in case.hydros}
    for start in downstream:
        path = [start]
        node = downstream[start]
        while node is not None:
            if node in path:
                cycle = " -> ".join(str(n) for n in path[path.index(node) :] + [node])
                raise CaseError(HYDROS, f"hydro {start}", "downstream_id", f"the cascade has a cycle: {cycle}")
            path.append(node)
            node = downstream[node]


def _check_initial_conditions(case: Case, hydro_ids: set[int]) -> None:
    for hydro_id in case.initial_storage:
        _known(INITIAL, f"hydro {hydro_id}", "storage.hydro_id", hydro_id, hydro_ids, "hydro")
    for hydro_id in case.past_inflows:
        _known(INITIAL, f"hydro {hydro_id}", "past_inflows.hydro_id", hydro_id, hydro_ids, "hydro")
    for hydro in case.hydros:
        # A plant whose reservoir cannot change (run of river) needs no initial storage: see the reader.
        if hydro.id not in case.initial_storage and hydro.max_storage > hydro.min_storage:
            raise CaseError(INITIAL, f"hydro {hydro.id}", "storage", "has no initial storage")
        storage = case.initial_storage.get(hydro.id)
        if storage is not None and storage > hydro.max_storage:
            raise CaseError(
                INITIAL, f"hydro {hydro.id}", "storage.value_hm3",
                f"{storage:g} hm3 is above the reservoir's maximum of {hydro.max_storage:g} hm3 "
                f"({HYDROS}: reservoir.max_storage_hm3)",
            )


def _check_stats(
    stats: SeriesStats, file: str, kind: str, ids: set[int], case: Case, *, allow_pre_study: bool
) -> None:
    stage_ids = {s.id for s in case.stages}
    for entity_id, stage_id in stats.mean:
        _known(file, f"{kind} {entity_id}, stage {stage_id}", f"{kind}_id", entity_id, ids, kind)
        if stage_id not in stage_ids and not (allow_pre_study and stage_id < 0):
            raise CaseError(file, f"{kind} {entity_id}", "stage_id", f"refers to stage {stage_id}, not in {STAGES}")
    for entity_id in sorted(ids):
        for stage in case.stages:
            if (entity_id, stage.id) not in stats.mean:
                raise CaseError(file, f"{kind} {entity_id}", "stage_id", f"has no row for stage {stage.id}")


def _check_ar_models(case: Case, hydro_ids: set[int]) -> None:
    stage_ids = {s.id for s in case.stages}
    for hydro_id, stage_id in case.ar_models:
        _known(AR_COEFFICIENTS, f"hydro {hydro_id}, stage {stage_id}", "hydro_id", hydro_id, hydro_ids, "hydro")
        if stage_id not in stage_ids and stage_id not in case.pre_study:  # pre-study rows: as Cobre, unused
            raise CaseError(
                AR_COEFFICIENTS, f"hydro {hydro_id}", "stage_id", f"refers to stage {stage_id}, not in {STAGES}"
            )


def _check_load_factors(case: Case, bus_ids: set[int]) -> None:
    stages = {s.id: s for s in case.stages}
    for (bus_id, stage_id), factors in case.load_factors.items():
        entity = f"bus {bus_id}, stage {stage_id}"
        _known(LOAD_FACTORS, entity, "bus_id", bus_id, bus_ids, "bus")
        if stage_id not in stages:
            raise CaseError(LOAD_FACTORS, entity, "stage_id", f"refers to stage {stage_id}, not in {STAGES}")
        n_blocks = len(stages[stage_id].blocks)
        for block_id in factors:
            if block_id >= n_blocks:
                raise CaseError(
                    LOAD_FACTORS, entity, "block_factors.block_id", f"block {block_id}, but the stage has {n_blocks}"
                )


def _check_state_flags(case: Case) -> None:
    for stage_id, (storage, lags) in case.state_flags.items():
        entity = f"stage {stage_id}"
        if not storage and any(h.max_storage > h.min_storage for h in case.hydros):
            raise unsupported(STAGES, entity, "state_variables.storage", "storage that does not carry over (false)")
        if not lags and any(case.ar_models.get((h.id, s.id)) for h in case.hydros for s in case.stages):
            raise unsupported(STAGES, entity, "state_variables.inflow_lags", "PAR(p) lags that do not carry over")
