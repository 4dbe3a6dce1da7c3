"""``stages.json``: the stage sequence, load blocks, openings and discounting.

caudal trains a finite horizon of stages in sequence, each with parallel load
blocks, the expectation over its openings and openings sampled by plain Monte
Carlo (Cobre's ``saa``). Other policy graphs, chronological blocks, per-stage
CVaR and other sampling methods are refused; stages of different lengths
(multi-resolution studies) are checked by ``resolutions.py`` once the inflow
model is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from caudal.hydro.cobre.case import Block, StageSpec
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import CaseFiles

MIN_BLOCK_HOURS = 1e-3
"""A block shorter than 3.6 s is a unit mistake: its energies would vanish below the LP's tolerances."""

FILE = "stages.json"

MAX_DURATION_SPREAD_DAYS = 7
"""Stages whose lengths differ by more than this are a multi-resolution study."""

DAYS_PER_YEAR = 365.25
"""The year length that turns an annual discount rate into a per-stage factor."""


def month_start(day: date, months: int = 0) -> date:
    """The first day of the calendar month ``months`` after ``day``'s month (before, when negative)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Timeline:
    stages: tuple[StageSpec, ...]
    pre_study: dict[int, int | None]  # id -> season id
    annual_discount_rate: float
    state_flags: dict[int, tuple[bool, bool]]  # stage id -> (storage, inflow_lags) as declared


def read_timeline(files: CaseFiles) -> Timeline:
    doc = files.json(FILE)
    listed = doc.data.get("stages")
    rate = read_policy_graph(doc.record("policy_graph"), len(listed) if isinstance(listed, list) else 0)
    stages, flags = read_stages(doc, _stage)
    pre_study = read_pre_study(doc)
    seasons = doc.record("season_definitions", None)
    if seasons is not None:
        check_season_definitions(seasons)
    doc.ignore("scenario_source")  # no longer read by Cobre 0.4+ either (moved to config.json)
    doc.finish()  # stages of different lengths are checked once the inflow model is known (resolutions.py)
    return Timeline(tuple(stages), pre_study, rate, flags)


def stage_entity_name(index: int, item: object, kind: str = "stage") -> str:
    if isinstance(item, dict) and isinstance(item.get("id"), int):
        return f"{kind} {item['id']}"
    return f"{kind} #{index}"


def read_policy_graph(graph: Record, n_stages: int) -> float:
    kind = graph.string("type")
    if kind != "finite_horizon":
        raise graph.refuse("type", f"the {kind!r} policy graph")
    rate = graph.number("annual_discount_rate", minimum=0.0)
    transitions = graph.records("transitions", lambda i, _: f"transition #{i}", [])
    for record in transitions:
        source, target = record.integer("source_id"), record.integer("target_id")
        probability = record.number("probability")
        override = record.number("annual_discount_rate_override", None)
        record.finish()
        if target != source + 1 or probability != 1.0 or (override is not None and override != rate):
            raise record.refuse(None, "a policy graph other than stages in sequence")
    if transitions and len(transitions) != n_stages - 1:
        raise graph.refuse("transitions", "a policy graph other than stages in sequence")
    graph.finish()
    return rate


def read_dates(record: Record) -> tuple[date, date]:
    start, end = (_date(record, key) for key in ("start_date", "end_date"))
    if not end > start:
        raise record.error("end_date", f"must be after start_date ({start.isoformat()}), got {end.isoformat()}")
    return start, end


def read_stages(
    doc: Record, read_stage: Callable[[Record, int], tuple[StageSpec, tuple[bool, bool]]]
) -> tuple[list[StageSpec], dict[int, tuple[bool, bool]]]:
    """The stages of stages.json in order, each read by ``read_stage`` (record, index), and their state flags."""
    stages = []
    flags: dict[int, tuple[bool, bool]] = {}
    for index, record in enumerate(doc.records("stages", lambda i, item: stage_entity_name(i, item))):
        stage, flag = read_stage(record, index)
        stages.append(stage)
        flags[stage.id] = flag
    if not stages:
        raise doc.error("stages", "must list at least one stage")
    return stages, flags


def read_pre_study(doc: Record) -> dict[int, int | None]:
    """The season of each pre-study stage (negative ids), by id."""
    pre_study: dict[int, int | None] = {}
    for record in doc.records("pre_study_stages", lambda i, item: stage_entity_name(i, item, "pre-study stage"), []):
        stage_id = record.integer("id")
        if stage_id >= 0:
            raise record.error("id", f"pre-study stage ids are negative, got {stage_id}")
        read_dates(record)
        pre_study[stage_id] = record.integer("season_id", None)
        record.finish()
    return pre_study


def _date(record: Record, key: str) -> date:
    text = record.string(key)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise record.error(key, f"must be an ISO date (YYYY-MM-DD), got {text!r}") from exc


def _stage(record: Record, index: int) -> tuple[StageSpec, tuple[bool, bool]]:
    return stage_record(record, index, openings_key="num_scenarios")


def stage_record(record: Record, index: int, openings_key: str) -> tuple[StageSpec, tuple[bool, bool]]:
    """One stage of ``stages.json`` and its state flags; the formats differ only in the openings' key."""
    stage_id, start, end, blocks = stage_schedule(record, index)
    flags = stage_state_flags(record)
    spec = StageSpec(
        id=stage_id,
        start=start,
        end=end,
        blocks=tuple(blocks),
        openings=record.integer(openings_key, minimum=1),
        season_id=record.integer("season_id", None),
    )
    record.finish()
    return spec, flags


def stage_schedule(record: Record, index: int) -> tuple[int, date, date, list[Block]]:
    """A stage's id, dates and blocks, with the modelling keys every format version refuses alike."""
    stage_id = record.integer("id")
    if stage_id != index:
        raise record.error("id", f"stages must be numbered 0, 1, 2, ... in order; expected {index}, got {stage_id}")
    start, end = read_dates(record)
    blocks = []
    for position, block in enumerate(record.records("blocks", lambda i, _: f"stage {stage_id}, block #{i}")):
        block_id = block.integer("id")
        if block_id != position:
            raise block.error("id", f"blocks must be numbered 0, 1, 2, ... in order; expected {position}")
        blocks.append(Block(block_id, block.string("name"), block.number("hours", minimum=MIN_BLOCK_HOURS)))
        block.finish()
    if not blocks:
        raise record.error("blocks", "must list at least one block")
    mode = record.string("block_mode", "parallel")
    if mode != "parallel":
        raise record.refuse("block_mode", f"{mode!r} blocks")
    risk = record.raw("risk_measure", "expectation")
    if risk != "expectation":
        raise record.refuse("risk_measure", "a risk measure other than the expectation")
    sampling = record.string("sampling_method", "saa")
    if sampling != "saa":
        raise record.refuse("sampling_method", f"the {sampling!r} sampling method")
    return stage_id, start, end, blocks


def stage_state_flags(record: Record) -> tuple[bool, bool]:
    """Whether the stage carries storage and inflow lags as state (both unless ``state_variables`` says not)."""
    flags = (True, True)
    state = record.record("state_variables", None)
    if state is not None:
        flags = (state.boolean("storage", True), state.boolean("inflow_lags", True))
        state.finish()
    return flags


def check_season_definitions(seasons: Record) -> None:
    """Seasons only label stages here (statistics are keyed by stage id); check their shape."""
    seasons.string("cycle_type", choices=("monthly", "weekly", "custom"))
    for entry in seasons.records("seasons", lambda i, _: f"season #{i}"):
        entry.integer("id", minimum=0)
        entry.string("label")
        entry.integer("month_start", minimum=1)
        entry.ignore("day_start", "month_end", "day_end")
        entry.finish()
    seasons.finish()
