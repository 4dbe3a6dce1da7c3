"""``stages.json`` of a 0.18 case: the 0.5.x timeline with ``num_openings`` and explicit graphs.

Besides renaming ``num_scenarios`` to ``num_openings``, 0.18 lets a policy
graph list its ``nodes`` and a stage override the discount rate; caudal
refuses both (a finite horizon of stages in sequence with one rate is what it
trains), as it refuses, in either format, other block modes, risk measures and
sampling methods.
"""

from __future__ import annotations

from caudal.hydro.cobre.case import StageSpec
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.timeline import (
    FILE,
    Timeline,
    check_resolution,
    check_season_definitions,
    read_dates,
    read_policy_graph,
    stage_entity_name,
    stage_schedule,
    stage_state_flags,
)


def read_timeline(files: CaseFiles) -> Timeline:
    doc = files.json(FILE)
    graph = doc.record("policy_graph")
    graph.refuse_if_present("nodes", "a policy graph of explicit nodes")
    rate = read_policy_graph(graph, len(doc.data.get("stages") or []))
    stages = []
    flags = {}
    for index, record in enumerate(doc.records("stages", lambda i, item: stage_entity_name(i, item))):
        stage, flag = _stage(record, index, rate)
        stages.append(stage)
        flags[stage.id] = flag
    if not stages:
        raise doc.error("stages", "must list at least one stage")
    pre_study = {}
    for record in doc.records("pre_study_stages", lambda i, item: stage_entity_name(i, item, "pre-study stage"), []):
        stage_id = record.integer("id")
        if stage_id >= 0:
            raise record.error("id", f"pre-study stage ids are negative, got {stage_id}")
        read_dates(record)
        pre_study[stage_id] = record.integer("season_id", None)
        record.finish()
    seasons = doc.record("season_definitions", None)
    if seasons is not None:
        check_season_definitions(seasons)
    doc.finish()
    check_resolution(doc, stages)
    return Timeline(tuple(stages), pre_study, rate, flags)


def _stage(record: Record, index: int, rate: float) -> tuple[StageSpec, tuple[bool, bool]]:
    stage_id, start, end, blocks = stage_schedule(record, index)
    override = record.number("annual_discount_rate_override", None, minimum=0.0)
    if override is not None and override != rate:
        raise record.refuse("annual_discount_rate_override", "a stage's own discount rate")
    flags = stage_state_flags(record)
    spec = StageSpec(
        id=stage_id,
        start=start,
        end=end,
        blocks=tuple(blocks),
        openings=record.integer("num_openings", minimum=1),
        season_id=record.integer("season_id", None),
    )
    record.finish()
    return spec, flags
