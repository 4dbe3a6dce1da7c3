"""The initial PAR(p) inflow lags of a 0.18 case, from realized inflow windows.

0.18 dropped ``past_inflows``: a lag's value before the study is the inflow
that was realized in its period, given as dated windows in
``scenarios/inflow_history.parquet`` (``hydro_id``, ``start_date``,
``end_date`` exclusive, ``value_m3s``) and in ``initial_conditions.json``'s
``recent_observations``. The rule below was measured by running Cobre 0.18.0
on d16 converted to 0.18 with monthly seasons (``tests/test_cobre_018_par.py``
lists the runs), varying one window at a time:

- lag ``k`` is the calendar month ``k`` months before the first study stage;
- its value is the day-weighted mean of the inflow over that month, each day
  taking the value of the recent observation covering it, else of the history
  window covering it (a window straddling two months counts in each for the
  days it covers there);
- every day of the month must be covered, and a plant's history windows must
  not overlap (Cobre rejects both cases);
- the lag's statistics are those of pre-study stage ``-k`` (its row in
  ``inflow_seasonal_stats.parquet``, whatever its ``season_id``), as in 0.5.x.

Stages shorter than a month (weeks, alone or then calendar months) are read:
after the first stage, lags are the day-weighted monthly averages of
``lag_accumulation.py``, which is what Cobre 0.18.0's forward pass and
simulation form (measured, ``tests/test_cobre_018_multires_lags.py``). Such a
study may start within a month: the lag months are still the whole months
before the start's month, and the days of that month before the start which a
window covers (observations, else history) begin its average
(``RealizedInflows.month_so_far``); days no window covers are left out of it,
as in Cobre 0.18.0.

Anything else is refused by name, because Cobre 0.18.0 does something caudal
has not pinned down: lags that are not state variables (``inflow_lags``
false, the 0.18 default: on a stochastic case Cobre's lower bound then rose
above its own upper estimate, as cuts that leave the lags out would), stages
of a month or more that are not calendar months, seasons that are not monthly (without
``season_definitions`` Cobre starts every lag at zero and never shifts it),
a lag month without its pre-study stage or its statistics row, and overlapping recent observations
(Cobre calls them revisions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from caudal.hydro.cobre.case import ArModel
from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles, date_column
from caudal.hydro.cobre.inflow_history import HISTORY
from caudal.hydro.cobre.par_a import ANNUAL_LAGS
from caudal.hydro.cobre.scenarios import INFLOW_STATS
from caudal.hydro.cobre.timeline import FILE as STAGES
from caudal.hydro.cobre.timeline import month_start
from caudal.parquet_files import epoch_days

INITIAL = "initial_conditions.json"
OBSERVATIONS = "recent_observations"
_WINDOW_COLUMNS = ("start_date", "end_date")
_EPOCH = date(1970, 1, 1)
_SHORTEST_MONTH_DAYS = 28  # a stage this long that is not a calendar month is not sub-monthly


@dataclass(frozen=True)
class Window:
    """Realized mean inflow of one plant over ``[start, end)``, in m3/s."""

    hydro_id: int
    start: date
    end: date
    value: float


def lag_orders(ar_models: dict[tuple[int, int], ArModel]) -> dict[int, int]:
    """Per hydro, the number of lags its model reads: its largest AR order over the stages."""
    orders: dict[int, int] = {}
    for (hydro_id, _), model in ar_models.items():
        orders[hydro_id] = max(orders.get(hydro_id, 0), len(model.coefficients))
    return {hydro_id: order for hydro_id, order in orders.items() if order > 0}


@dataclass(frozen=True)
class RealizedInflows:
    """What the realized inflow windows give the PAR(p) lags of a 0.18 case.

    ``lags``: per hydro with lags, its inflow in each lag month before the
    study, most recent first. ``month_so_far``: per hydro, when the study
    starts within a month, that month's days before the start which a window
    covers, as ``(sum of inflow x days, days)`` over the month's days: the
    start of the month's lag average, which the study's stages complete
    (lag_accumulation.py).
    """

    lags: dict[int, tuple[float, ...]]
    month_so_far: dict[int, tuple[float, float]]


def initial_lags(
    files: CaseFiles, orders: dict[int, int], observations: list[Window], hydro_ids: set[int],
    annual_hydros: frozenset[int] = frozenset(), pre_study_lags: int | None = None,
) -> RealizedInflows:
    """The lags (and the study month's days before the start) that the windows give each hydro with lags.

    ``orders`` are the AR orders; a plant of ``annual_hydros`` (PAR(p)-A)
    reads twelve lag months, those past its AR order without a pre-study stage
    (their statistics are their season's, ``par_a.py``), and must have them
    covered: Cobre 0.18.0 runs a case that leaves them uncovered (d12 with two
    of twelve months observed cost 16,600,569,457.53), which caudal refuses.
    ``pre_study_lags`` is how many lag months need their pre-study stage
    (default: the largest AR order; an estimated model passes the lags its
    stages read, :func:`read_lags`).
    """
    months = dict(orders)
    for hydro_id in annual_hydros:
        months[hydro_id] = max(months.get(hydro_id, 0), ANNUAL_LAGS)
    if not months:
        return RealizedInflows({}, {})
    if pre_study_lags is None:
        pre_study_lags = max(orders.values(), default=0)
    study_start = _check_stages(files, pre_study_lags)
    _check_lag_statistics(files, orders)
    history = read_history_windows(files, month_start(study_start, -max(months.values())), hydro_ids)
    by_hydro: dict[int, list[Window]] = {}
    for window in observations:
        if window.end > study_start:
            raise CaseError(INITIAL, f"hydro {window.hydro_id}", f"{OBSERVATIONS}.end_date",
                            f"is {window.end}, after the study start {study_start}: observations are realized inflow")
        by_hydro.setdefault(window.hydro_id, []).append(window)
    for hydro_id, windows in by_hydro.items():
        if _first_overlap(windows) is not None:
            raise unsupported(INITIAL, f"hydro {hydro_id}", OBSERVATIONS,
                              "overlapping recent inflow observations (revisions)")
    daily = {hydro_id: _daily(order, study_start, history.get(hydro_id, []), by_hydro.get(hydro_id, []))
             for hydro_id, order in sorted(months.items())}
    lags = {hydro_id: _lags_of(hydro_id, months[hydro_id], study_start, days, orders.get(hydro_id, 0))
            for hydro_id, days in daily.items()}
    so_far = {hydro_id: _month_so_far(study_start, days) for hydro_id, days in daily.items()}
    return RealizedInflows(lags, {hydro_id: value for hydro_id, value in so_far.items() if value[1] > 0.0})


def read_lags(ar_models: dict[tuple[int, int], ArModel]) -> int:
    """How many months before the study the stages' AR terms read: stage ``t`` of order ``p`` reads ``p - t``.

    An estimated model needs pre-study stages for these months only: the
    statistics of a lag month are its season's, so a lag month that only
    seeds the state does not need one (measured: d12 with April's history,
    an order-3 model and two pre-study stages, costs Cobre 0.18.0's
    16,050,922,810.17).
    """
    return max((len(model.coefficients) - stage_id for (_, stage_id), model in ar_models.items()), default=0)


def read_history_windows(files: CaseFiles, since: date, hydro_ids: set[int]) -> dict[int, list[Window]]:
    """The windows of ``inflow_history.parquet`` that end after ``since``, per hydro (none when absent).

    Overlapping windows of one plant are an error anywhere in the file, as in
    Cobre 0.18.0; a history of decades is checked with array operations and
    only its last windows become objects.
    """
    if not files.exists(HISTORY):
        return {}
    numbers = files.table(HISTORY, {"hydro_id": INT, "value_m3s": FLOAT}, read_apart=("date", *_WINDOW_COLUMNS))
    table = files.parquet(HISTORY)
    if "date" in table.column_names:
        raise CaseError(HISTORY, None, "date", "is the 0.5.x layout of one date per value; 0.18 reads "
                        "windows: columns start_date and end_date (exclusive)")
    missing = [column for column in _WINDOW_COLUMNS if column not in table.column_names]
    if missing:
        raise CaseError(HISTORY, None, missing[0], "column is missing (0.18 history rows are windows)")
    days = [epoch_days(date_column(HISTORY, table, column)) for column in _WINDOW_COLUMNS]
    hydro, start, end, value = numbers["hydro_id"], days[0], days[1], numbers["value_m3s"]
    unknown = np.setdiff1d(hydro, np.fromiter(hydro_ids, np.int64, len(hydro_ids)))
    if unknown.size:
        raise CaseError(HISTORY, f"hydro {int(unknown[0])}", "hydro_id",
                        f"refers to hydro {int(unknown[0])}, which is not defined")
    bad = np.flatnonzero(end <= start)
    if bad.size:
        row = int(bad[0])
        raise CaseError(HISTORY, f"row {row}", "end_date",
                        f"is {_day(end[row])}, not after start_date {_day(start[row])}")
    order = np.lexsort((start, hydro))
    overlaps = np.flatnonzero((hydro[order][1:] == hydro[order][:-1]) & (start[order][1:] < end[order][:-1]))
    if overlaps.size:
        first, second = order[overlaps[0]], order[overlaps[0] + 1]
        raise CaseError(HISTORY, f"hydro {int(hydro[first])}", "start_date",
                        f"the windows starting {_day(start[first])} and {_day(start[second])} overlap")
    windows: dict[int, list[Window]] = {}
    for row in np.flatnonzero(end > (since - _EPOCH).days):
        windows.setdefault(int(hydro[row]), []).append(
            Window(int(hydro[row]), _day(start[row]), _day(end[row]), float(value[row])))
    return windows


def _day(days_since_epoch: np.integer) -> date:
    return _EPOCH + timedelta(days=int(days_since_epoch))


def _first_overlap(windows: list[Window]) -> tuple[Window, Window] | None:
    ordered = sorted(windows, key=lambda w: w.start)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.start < before.end:
            return before, after
    return None


def _check_stages(files: CaseFiles, max_order: int) -> date:
    """Refuse the timelines whose lags caudal has not matched to Cobre 0.18.0; the study start."""
    doc = files.json(STAGES).data  # shape already checked by the timeline reader
    seasons = doc.get("season_definitions") or {}
    if seasons.get("cycle_type") != "monthly":
        raise unsupported(STAGES, None, "season_definitions.cycle_type",
                          "PAR(p) inflow lags without monthly seasons in the 0.18 format")
    for stage in doc["stages"]:
        entity = f"stage {stage['id']}"
        start, end = date.fromisoformat(stage["start_date"]), date.fromisoformat(stage["end_date"])
        calendar_month = start.day == 1 and end == month_start(start, 1)
        if not calendar_month and (end - start).days >= _SHORTEST_MONTH_DAYS:
            raise unsupported(STAGES, entity, "end_date",
                              "PAR(p) inflow lags on stages of a month or more that are not calendar months "
                              "in the 0.18 format")
        if not (stage.get("state_variables") or {}).get("inflow_lags", False):
            raise unsupported(STAGES, entity, "state_variables.inflow_lags",
                              "PAR(p) lags that are not state variables (false, the 0.18 default)")
    study_start = date.fromisoformat(doc["stages"][0]["start_date"])
    pre_study = {p["id"]: (date.fromisoformat(p["start_date"]), date.fromisoformat(p["end_date"]))
                 for p in doc.get("pre_study_stages") or []}
    for lag in range(1, max_order + 1):
        month = (month_start(study_start, -lag), month_start(study_start, 1 - lag))
        if pre_study.get(-lag) != month:
            raise unsupported(STAGES, f"pre-study stage {-lag}", "pre_study_stages",
                              f"a lag-{lag} PAR(p) model without pre-study stage {-lag} spanning "
                              f"{month[0]} to {month[1]} (its month, whose statistics the lag uses)")
    return study_start


def _check_lag_statistics(files: CaseFiles, orders: dict[int, int]) -> None:
    """Refuse a lag whose pre-study stage has no statistics row: Cobre 0.18.0 then drops the lag's term.

    (Measured: with no row for stage -1, Cobre 0.18.0 gave the first stage its
    mean inflow, lag 200 m3/s against a mean of 120, where caudal would take
    the statistics of a study stage of the same season.)
    """
    if not files.exists(INFLOW_STATS):
        return
    table = files.table(INFLOW_STATS, {"hydro_id": INT, "stage_id": INT}, read_apart=("mean_m3s", "std_m3s"))
    rows = set(zip(table["hydro_id"].tolist(), table["stage_id"].tolist(), strict=True))
    for hydro_id, order in sorted(orders.items()):
        for lag in range(1, order + 1):
            if (hydro_id, -lag) not in rows:
                raise unsupported(INFLOW_STATS, f"hydro {hydro_id}", "stage_id",
                                  f"a lag-{lag} PAR(p) model without statistics for pre-study stage {-lag}")


def _daily(order: int, study_start: date, history: list[Window], observations: list[Window]) -> np.ndarray:
    """The realized inflow of each day from the oldest lag month to the study start (NaN where none is given).

    Observations override the history day by day.
    """
    first = month_start(study_start, -order)
    n_days = (study_start - first).days
    daily = np.full(n_days, np.nan)
    for windows in (history, observations):  # observations last: they override the history
        for window in windows:
            lo = max((window.start - first).days, 0)
            hi = min((window.end - first).days, n_days)
            if lo < hi:
                daily[lo:hi] = window.value
    return daily


def _month_so_far(study_start: date, daily: np.ndarray) -> tuple[float, float]:
    """The study month's covered days before the start: (sum of inflow x days, days), over the month's days.

    Measured on Cobre 0.18.0 (tests/test_cobre_018_multires_lags.py): the
    month's lag averages the covered days before the start (from observations
    or history) with the study's own days; days no window covers are left out.
    """
    days_in_month = (month_start(study_start, 1) - month_start(study_start)).days
    before = daily[daily.shape[0] - (study_start - month_start(study_start)).days:]
    covered = before[~np.isnan(before)]
    return float(covered.sum()) / days_in_month, covered.shape[0] / days_in_month


def _lags_of(hydro_id: int, order: int, study_start: date, daily: np.ndarray, ar_order: int) -> tuple[float, ...]:
    """Day-weighted mean inflow of each lag month (``daily`` from :func:`_daily`); past ``ar_order``, annual lags."""
    first = month_start(study_start, -order)
    lags = []
    for lag in range(1, order + 1):
        lo = (month_start(study_start, -lag) - first).days
        hi = (month_start(study_start, 1 - lag) - first).days
        month = daily[lo:hi]
        uncovered = int(np.isnan(month).sum())
        if uncovered and lag > ar_order:
            raise unsupported(HISTORY, f"hydro {hydro_id}", "start_date",
                              f"PAR(p)-A's annual term without realized inflow for all of lag {lag}'s month "
                              f"({month_start(study_start, -lag)}) in the 0.18 format")
        if uncovered:
            raise CaseError(HISTORY, f"hydro {hydro_id}", "start_date",
                            f"{uncovered} day(s) of lag {lag}'s month ({month_start(study_start, -lag)} to "
                            f"{month_start(study_start, 1 - lag)}) have no realized inflow: supply "
                            f"inflow_history.parquet or {OBSERVATIONS} windows covering it")
        lags.append(float(month.mean()))
    return tuple(lags)
