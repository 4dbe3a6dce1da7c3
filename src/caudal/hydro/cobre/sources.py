"""Non-controllable sources (wind, solar): ``system/non_controllable_sources.json`` and their availability.

Both formats list each source's bus, capacity and (optionally) its own
curtailment cost, which falls back to ``penalties.json``'s
``non_controllable_source.curtailment_cost``. Availability comes from
``scenarios/non_controllable_stats.parquet`` as ``clamp(mean, 0, 1)`` of the
capacity, or is the whole capacity when the file is absent. A positive
``std`` makes it stochastic: in each opening the source can generate
``max_generation_mw * clamp(mean + std * eta, 0, 1)``, ``eta`` the opening's
noise for the source (the tree's columns after the hydros and the random
loads, as in Cobre's ``noise_openings.parquet``); Cobre 0.5.1 and 0.18.0 give
the same bound on the same openings (``tests/test_cobre_stochastic_ncs.py``). Block
factors and stage-varying bounds are refused by name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from caudal.hydro.cobre.case import Case, Source, StageSpec
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import Record, entity_name
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles
from caudal.hydro.cobre.system import PENALTIES

FILE = "system/non_controllable_sources.json"
STATS = "scenarios/non_controllable_stats.parquet"
DEFAULT_CURTAILMENT_COST = 0.0


def read_sources(
    files: CaseFiles, stages: tuple[StageSpec, ...], check: Callable[[Record], None] | None = None
) -> tuple[tuple[Source, ...], dict[tuple[int, int], float]]:
    """The sources and their availability factor per (source id, stage id); ``check`` reads format-specific keys."""
    if not files.exists(FILE):
        if files.exists(STATS):
            raise CaseError(STATS, None, None, f"gives availabilities, but there is no {FILE}")
        return (), {}
    default_cost = _global_curtailment_cost(files)
    doc = files.json(FILE)
    sources = []
    for record in doc.records("non_controllable_sources", entity_name("source")):
        source_id = record.integer("id", minimum=0)
        name = record.string("name")
        bus = record.integer("bus_id")
        capacity = record.number("max_generation_mw", minimum=0.0)
        cost = record.number("curtailment_cost", default_cost, minimum=0.0)
        if check is not None:
            check(record)  # 0.18: the start of service, the entry and exit stages
        else:
            for key in ("entry_stage_id", "exit_stage_id"):
                record.refuse_if_present(key, "entry and exit stages")
        record.finish()
        if any(s.id == source_id for s in sources):
            raise record.error("id", f"source id {source_id} is used twice")
        sources.append(Source(source_id, name, bus, capacity, cost))
    doc.finish()
    return tuple(sorted(sources, key=lambda s: s.id)), _availability(files, sources, stages)


def check_buses(sources: tuple[Source, ...], bus_ids: set[int]) -> None:
    for source in sources:
        if source.bus not in bus_ids:
            raise CaseError(FILE, f"source {source.id}", "bus_id", f"refers to bus {source.bus}, which is not defined")


def _global_curtailment_cost(files: CaseFiles) -> float:
    penalties = files.json(PENALTIES).data
    section = penalties.get("non_controllable_source") if isinstance(penalties, dict) else None
    if section is None:
        return DEFAULT_CURTAILMENT_COST
    record = Record(PENALTIES, None, section, "non_controllable_source.")
    return record.number("curtailment_cost", DEFAULT_CURTAILMENT_COST, minimum=0.0)


def _availability(
    files: CaseFiles, sources: list[Source], stages: tuple[StageSpec, ...]
) -> dict[tuple[int, int], float]:
    if not files.exists(STATS):
        return {}
    table = files.table(STATS, {"ncs_id": INT, "stage_id": INT, "mean": FLOAT, "std": FLOAT})
    known = {s.id for s in sources}
    stage_ids = {s.id for s in stages}
    factors: dict[tuple[int, int], float] = {}
    for source_id, stage_id, mean, std in zip(table["ncs_id"], table["stage_id"], table["mean"], table["std"],
                                              strict=True):
        key = (int(source_id), int(stage_id))
        where = f"source {key[0]}, stage {key[1]}"
        if key[0] not in known:
            raise CaseError(STATS, where, "ncs_id", f"refers to source {key[0]}, which is not defined in {FILE}")
        if key[1] not in stage_ids:
            raise CaseError(STATS, where, "stage_id", f"refers to stage {key[1]}, not in stages.json")
        if key in factors:
            raise CaseError(STATS, where, "stage_id", f"stage {key[1]} appears twice")
        if std < 0:
            raise CaseError(STATS, where, "std", f"must be non-negative, got {std:g}")
        factors[key] = min(max(float(mean), 0.0), 1.0)  # the format clamps availability to [0, 1]
    for source in sources:
        for stage in stages:
            if (source.id, stage.id) not in factors:
                raise CaseError(STATS, f"source {source.id}", "stage_id", f"has no row for stage {stage.id}")
    return factors


def stochastic_availability(
    files: CaseFiles, stages: tuple[StageSpec, ...], closed: set[tuple[int, int]] = frozenset()
) -> dict[tuple[int, int], tuple[float, float]]:
    """(source, stage) -> (mean, std) where ``std`` > 0 (read_sources checked the file), but in ``closed`` stages."""
    if not files.exists(FILE) or not files.exists(STATS):
        return {}
    table = files.table(STATS, {"ncs_id": INT, "stage_id": INT, "mean": FLOAT, "std": FLOAT})
    return {
        (int(source), int(stage)): (float(mean), float(std))
        for source, stage, mean, std in zip(table["ncs_id"], table["stage_id"], table["mean"], table["std"],
                                            strict=True)
        if std > 0 and (int(source), int(stage)) not in closed
    }


def opening_availability(case: Case, source: Source, stage: int, noise: np.ndarray | None) -> np.ndarray | float:
    """What ``source`` can generate in ``stage`` (MW): per opening of ``noise`` [openings] if stochastic."""
    stats = case.source_noise.get((source.id, stage))
    if stats is None or noise is None:
        return case.available_mw(source, stage)
    mean, std = stats
    return source.max_mw * np.clip(mean + std * noise, 0.0, 1.0)
