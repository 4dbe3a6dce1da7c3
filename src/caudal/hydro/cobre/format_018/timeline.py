"""``stages.json`` of a 0.18 case: the 0.5.x timeline with ``num_openings`` and explicit graphs.

Besides renaming ``num_scenarios`` to ``num_openings``, 0.18 lets a policy
graph list its ``nodes`` and a stage override the discount rate; caudal
refuses both (a finite horizon of stages in sequence with one rate is what it
trains), as it refuses, in either format, other block modes, risk measures and
sampling methods. Stages of different lengths (weekly then monthly) are read
as in 0.5.x: ``resolutions.py`` checks them once the inflow model and the
opening tree are known (Cobre 0.18.0 gives d28 the cost Cobre 0.5.1 does).
"""

from __future__ import annotations

from caudal.hydro.cobre.case import StageSpec
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.timeline import (
    FILE,
    Timeline,
    check_season_definitions,
    read_policy_graph,
    read_pre_study,
    read_stages,
    stage_record,
)


def read_timeline(files: CaseFiles) -> Timeline:
    doc = files.json(FILE)
    graph = doc.record("policy_graph")
    graph.refuse_if_present("nodes", "a policy graph of explicit nodes")
    rate = read_policy_graph(graph, len(doc.data.get("stages") or []))
    stages, flags = read_stages(doc, lambda record, index: _stage(record, index, rate))
    pre_study = read_pre_study(doc)
    seasons = doc.record("season_definitions", None)
    if seasons is not None:
        check_season_definitions(seasons)
    doc.finish()
    return Timeline(tuple(stages), pre_study, rate, flags)


def _stage(record: Record, index: int, rate: float) -> tuple[StageSpec, tuple[bool, bool]]:
    override = record.number("annual_discount_rate_override", None, minimum=0.0)
    if override is not None and override != rate:
        raise record.refuse("annual_discount_rate_override", "a stage's own discount rate")
    return stage_record(record, index, openings_key="num_openings")
