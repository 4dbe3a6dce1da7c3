"""PAR(p) inflow lags on stages shorter than a month (weekly stages, alone or then monthly ones).

A PAR(p) lag is the inflow of one *lag period*, the calendar month of a stage's
season (``season_definitions`` with the ``monthly`` cycle), whatever the
length of the stages that fall in it. Cobre 0.5.1 forms it so in its forward
passes and simulation (its ``lag_transition.rs``, read for the facts, then
measured on the cases of ``tests/test_cobre_multiresolution_lags.py``):

* a stage adds ``w * a`` to an accumulator, ``a`` its inflow (m3/s) and ``w``
  the share of its season's month that its days cover (days in the month /
  days of the month);
* the last stage of a month (no later stage has the same season in the same
  year) closes it: the lags shift, the newest lag being the accumulated sum
  divided by the shares added since the last close, so a month the study only
  partly covers is the average over the covered days; the accumulator restarts
  with the days this stage has in the next month (``s * a``, ``s`` that
  month's share), the "spillover" of a week that crosses the month's end;
* in any other stage the lags stay as they came in: every week of a month sees
  the previous months' inflows;
* days of a stage before its season's month count in no month, and the
  statistics a lag is centred on stay those of the stage before (by stage id,
  inflows.py), both as in Cobre 0.5.1.

caudal writes this into the stage LPs, so cuts and bounds see the lags the
forward pass sees: per plant with lags one more state, the accumulator, and
linear rows in place of the plain shift (:func:`add_accumulated_lags`). On a
horizon of calendar months it reduces to the plain shift, which is kept there.
It applies to a horizon of stages of different lengths, and to one of stages of
one length when some stage is shorter than its season's calendar month (only
weekly stages under monthly seasons): Cobre 0.5.1's simulation accumulates
there too, measured on ``weekly-par1`` (ten weeks, PAR(1)) where its simulated
cost is the accumulated rule's and not the weekly shift's. Stages of one length
under any other season cycle keep the plain shift, nothing refused.

What is refused by name, because Cobre's rule for it could not be pinned down
or is not what its format describes: seasons other than the ``monthly`` cycle
(by its source, Cobre 0.5.1 never shifts lags there), stages spanning more than their season's
month and the next (monthly then quarterly: Cobre 0.5.1 guesses quarterly
seasons from season ids >= 12; Cobre 0.18.0 rebuilds the lags from quarter
averages one quarterly stage late, so the first quarter's inflow is never a
lag, measured in docs/cobre.md), a stage outside its season's month, and
``recent_observations`` (scenarios.py; Cobre 0.5.1 seeds the accumulator with
``value * hours`` against a weight in shares of the month, measured: a 70 m3/s
observation became a 13,137.5 m3/s lag).

Two things Cobre 0.5.1 does differently, measured and not copied: its
training lower bound uses the plain per-stage shift (its cuts map the lags as
if every stage closed a month), so it differs from its own simulated cost
(lies above it on these cases); and with pre-study stages in stages.json it closes a month that
many stages early. caudal's deterministic equivalent and bound equal Cobre's
simulated cost where neither applies.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from caudal.hydro.cobre.case import Case, StageSpec
from caudal.hydro.cobre.errors import unsupported
from caudal.hydro.cobre.inflows import InflowModel
from caudal.hydro.cobre.scenarios import INITIAL
from caudal.hydro.cobre.timeline import FILE, month_start
from caudal.model.problem import Stage, State, Variable

FEATURE = "PAR(p) inflow lags across stages of different resolutions"


@dataclass(frozen=True)
class LagTransition:
    """What one stage does to its plants' lag state."""

    share: float  # of its season's month that the stage covers (w)
    closes: bool  # the stage closes the month: the lags shift to its average
    total: float  # shares accumulated since the last close, this stage's included (the average's divisor)
    spillover: float  # share of the next month the stage covers; restarts the accumulator when it closes


def lag_transitions(case: Case, inflows: InflowModel, multi_resolution: bool) -> tuple[LagTransition, ...] | None:
    """The stages' lag transitions, or ``None`` where the plain per-stage shift is the rule.

    That is every horizon without inflow lags, and every horizon whose stages
    all have about one length unless some stage is shorter than its season's
    calendar month (monthly cycle): a horizon of only weekly stages accumulates
    too, a horizon of calendar months keeps the shift. Raises
    :class:`~caudal.hydro.cobre.errors.CaseError` for what this module refuses
    (see the module docstring).
    """
    if int(inflows.n_lags.max(initial=0)) == 0:
        return None
    if not multi_resolution and not _some_stage_shorter_than_its_month(case):
        return None
    months = _season_months(case)
    periods = [_period(stage, months) for stage in case.stages]
    transitions = []
    lagged = {hydro.id for h, hydro in enumerate(case.hydros) if inflows.n_lags[h] > 0}
    running = _share_so_far(case, lagged, periods[0])
    for t, stage in enumerate(case.stages):
        start, end = periods[t]
        share = _days(stage, start, end) / (end - start).days
        next_end = month_start(end, 1)
        spillover = _days(stage, end, next_end) / (next_end - end).days
        if share == 0.0:
            raise unsupported(FILE, f"stage {stage.id}", "season_id",
                              f"{FEATURE}, a stage outside the month of its season ({start:%Y-%m})")
        if stage.end > next_end:
            raise unsupported(FILE, f"stage {stage.id}", "end_date",
                              f"{FEATURE}, a stage spanning more than its season's month and the next "
                              "(monthly then quarterly stages)")
        closes = all(periods[later] != (start, end) for later in range(t + 1, len(case.stages)))
        running += share
        transitions.append(LagTransition(share, closes, running, spillover))
        if closes:
            running = spillover
    return tuple(transitions)


def _share_so_far(case: Case, lagged: set[int], first_period: tuple[date, date]) -> float:
    """The share of the study's first month realized before it starts (0.18's ``Case.month_so_far``), or 0.

    It starts the first month's lag average, so it must be the same for every
    plant with lags (``lagged``; Cobre 0.18.0 would take the largest and
    average the other plants' inflows over days they do not have) and the first stage's season
    must be the month the study starts in.
    """
    shares = {share for _, share in case.month_so_far.values()}
    if not shares:
        return 0.0
    if len(shares) > 1 or set(case.month_so_far) != lagged:
        raise unsupported(INITIAL, None, "recent_observations",
                          f"{FEATURE}, realized inflows covering different days of the study's first month "
                          "for different plants")
    first = case.stages[0]
    if first_period[0] != month_start(first.start):
        raise unsupported(FILE, f"stage {first.id}", "season_id",
                          f"{FEATURE}, a study starting within a month whose first stage's season is another "
                          f"month ({first_period[0]:%Y-%m})")
    return shares.pop()


def _some_stage_shorter_than_its_month(case: Case) -> bool:
    """Whether a horizon of stages of one length has sub-monthly stages under monthly seasons.

    Any other horizon of one length (calendar months, or seasons that are not
    the monthly cycle, or stages without a monthly season) keeps the plain
    shift it always had; nothing is refused here.
    """
    seasons = json.loads((Path(case.root) / FILE).read_text(encoding="utf-8")).get("season_definitions")
    if not isinstance(seasons, dict) or seasons.get("cycle_type") != "monthly":
        return False
    months = {int(s["id"]): int(s["month_start"]) for s in seasons.get("seasons", [])}
    if any(stage.season_id not in months or months[stage.season_id] > 12 for stage in case.stages):
        return False
    for stage in case.stages:
        start, end = _period(stage, months)
        if stage.days < (end - start).days:
            return True
    return False


def _season_months(case: Case) -> dict[int, int]:
    """Calendar month of each season id (monthly cycle only; stages.json was checked when it was read)."""
    data = json.loads((Path(case.root) / FILE).read_text(encoding="utf-8"))
    seasons = data.get("season_definitions")
    if not isinstance(seasons, dict):
        raise unsupported(FILE, None, "season_definitions", f"{FEATURE} without season definitions")
    cycle = seasons.get("cycle_type")
    if cycle != "monthly":
        raise unsupported(FILE, None, "season_definitions.cycle_type", f"{FEATURE} with the {cycle!r} season cycle")
    months = {int(s["id"]): int(s["month_start"]) for s in seasons.get("seasons", [])}
    for month in months.values():
        if month > 12:
            raise unsupported(FILE, None, "season_definitions.seasons[].month_start",
                              f"{FEATURE}, a monthly season starting in month {month}")
    return months


def _period(stage: StageSpec, months: dict[int, int]) -> tuple[date, date]:
    """The calendar month of the stage's season that overlaps the stage (its start's year, else the year before)."""
    if stage.season_id is None or stage.season_id not in months:
        raise unsupported(FILE, f"stage {stage.id}", "season_id", f"{FEATURE}, a stage without a monthly season")
    month = months[stage.season_id]
    for year in (stage.start.year, stage.start.year - 1):
        start = date(year, month, 1)
        end = month_start(start, 1)
        if stage.start < end and stage.end > start:
            return start, end
    start = date(stage.start.year, month, 1)
    return start, month_start(start, 1)


def _days(stage: StageSpec, start: date, end: date) -> int:
    return max(0, (min(stage.end, end) - max(stage.start, start)).days)


def add_accumulator(stage: Stage, hydro_id: int, initial: float = 0.0) -> State:
    """The plant's accumulator state: the shares-weighted inflows of the month so far (m3/s).

    ``initial``: what the study's first month realized before the study starts (0 when it starts on the
    month's first day).
    """
    return stage.add_state(f"inflow_lag_sum[{hydro_id}]", lower=-math.inf, upper=math.inf, initial=initial)


def add_accumulated_lags(
    stage: Stage, hydro_id: int, inflow: Variable, lags: list[State], accumulator: State, transition: LagTransition
) -> None:
    """The rows that carry a plant's lags and accumulator through one stage (instead of the plain shift)."""
    name = f"{hydro_id}"
    if transition.closes:  # total >= share > 0
        newest = {lags[0].out: 1.0, accumulator.incoming: -1.0 / transition.total,
                  inflow: -transition.share / transition.total}
        stage.add_constraint(newest, "==", 0.0, name=f"lag[{name},1]")
        for lag in range(2, len(lags) + 1):
            stage.add_constraint({lags[lag - 1].out: 1.0, lags[lag - 2].incoming: -1.0}, "==", 0.0,
                                 name=f"lag[{name},{lag}]")
        stage.add_constraint({accumulator.out: 1.0, inflow: -transition.spillover}, "==", 0.0,
                             name=f"lag_sum[{name}]")
        return
    for lag, state in enumerate(lags, start=1):
        stage.add_constraint({state.out: 1.0, state.incoming: -1.0}, "==", 0.0, name=f"lag[{name},{lag}]")
    stage.add_constraint({accumulator.out: 1.0, accumulator.incoming: -1.0, inflow: -transition.share}, "==", 0.0,
                         name=f"lag_sum[{name}]")
