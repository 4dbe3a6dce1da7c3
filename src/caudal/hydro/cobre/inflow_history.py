"""``scenarios/inflow_history.parquet``: the inflow model estimated from a plant's history.

When a case gives a history but neither ``inflow_seasonal_stats.parquet`` nor
``inflow_ar_coefficients.parquet``, Cobre fits the seasonal statistics and the
PAR(p) coefficients itself (``config.json`` -> ``estimation``), then uses them
exactly as if they had been given for every stage of the same season. This
module reads the history and the settings, hands each plant's series to
:func:`caudal.hydro.cobre.par_estimation.fit_par`, and returns the result in
the form the two files would have had, so the rest of the reader and the
problem layer (lags as state variables) need no change.

Supported: monthly seasons (``season_definitions.cycle_type = "monthly"``), one
observation per month without gaps, the classical ``"pacf"`` order selection
and PAR(p)-A's ``"pacf_annual"`` (:mod:`caudal.hydro.cobre.par_a_estimation`;
its annual terms reach the model through ``Case.annual_components``).
Refused by name: a history given together with only one of the two files
(Cobre's partial estimation) and weekly or custom cycles. With several plants
and no ``correlation.json``, Cobre also estimates the correlation between the
plants and draws correlated noise: so does caudal
(:mod:`caudal.hydro.cobre.correlation_estimation`, Cobre 0.5.1's and 0.18.0's
rule), except with PAR(p)-A, refused unless the opening tree (already
correlated) is given.

The 0.18 format estimates with the same code
(:mod:`caudal.hydro.cobre.format_018.estimation`); what a Cobre version does
differently is a :class:`Rules` argument of :func:`estimate_inflows`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from caudal.hydro.cobre.case import AnnualComponent, ArModel, SeriesStats, StageSpec
from caudal.hydro.cobre.correlation import FILE as CORRELATION
from caudal.hydro.cobre.correlation import Correlation
from caudal.hydro.cobre.correlation_estimation import estimate_correlation
from caudal.hydro.cobre.errors import CaseError, CaseWarning, unsupported
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles, date_column
from caudal.hydro.cobre.par_a_estimation import AnnualFit, expanded_coefficients, fit_par_annual
from caudal.hydro.cobre.par_estimation import BY_POSITION, History, SeasonFit, fit_par, implied_residual_std_ratios
from caudal.hydro.cobre.scenarios import AR_COEFFICIENTS, INFLOW_STATS, NOISE_OPENINGS

HISTORY = "scenarios/inflow_history.parquet"
CONFIG = "config.json"
STAGES = "stages.json"


@dataclass(frozen=True)
class EstimationSettings:
    """``config.json`` -> ``estimation``, with Cobre's defaults."""

    max_order: int = 6
    min_observations_per_season: int = 30
    max_coefficient_magnitude: float | None = None
    annual: bool = False  # "pacf_annual": fit PAR(p)-A


Series = dict[int, list[tuple[date, int, float]]]
"""Per hydro, its (date, season, value) monthly rows in date order."""
SeriesReader = Callable[[CaseFiles, tuple[StageSpec, ...], dict[int, int], list[int]], Series]
"""Reads a format's history file: (files, stages, season of each calendar month, hydro ids) -> rows."""


@dataclass(frozen=True)
class Rules:
    """What a Cobre version does its own way when it estimates; the defaults are Cobre 0.5.1's.

    ``read_series`` reads the format's history file into monthly values;
    ``pairing`` forms the lagged pairs of the autocorrelations
    (:mod:`caudal.hydro.cobre.par_estimation`); ``order_selections`` are the
    ``order_selection`` values the format knows; ``date_field`` names a
    row's date in messages; ``implied_ratios`` takes each
    season's residual std ratio from the final coefficients
    (:func:`caudal.hydro.cobre.par_estimation.implied_residual_std_ratios`)
    instead of from the Yule-Walker system the coefficients solved.
    """

    read_series: SeriesReader | None = None  # None: the 0.5.x layout, one dated value per row
    pairing: str = BY_POSITION
    order_selections: tuple[str, ...] = ("pacf", "pacf_annual", "fixed")  # "fixed" fits as "pacf" does
    date_field: str = "date"
    implied_ratios: bool = False


@dataclass(frozen=True)
class EstimatedInflows:
    stats: SeriesStats
    ar_models: dict[tuple[int, int], ArModel]
    annual: dict[tuple[int, int], AnnualComponent]  # empty unless "pacf_annual"
    correlation: Correlation | None = None  # estimated between the plants (correlation_estimation.py)


def estimate_inflows(
    files: CaseFiles,
    stages: tuple[StageSpec, ...],
    pre_study: dict[int, int | None],
    hydro_ids: list[int],
    rules: Rules = Rules(),  # noqa: B008 - frozen, never mutated
) -> EstimatedInflows | None:
    """The fitted statistics and AR models per (hydro, stage id); ``None`` when there is nothing to fit."""
    if not files.exists(HISTORY):
        return None
    given = [name for name in (INFLOW_STATS, AR_COEFFICIENTS) if files.exists(name)]
    if len(given) == 2:
        return None  # Cobre uses the given model and leaves the history unread
    if given:
        raise unsupported(HISTORY, None, None, f"estimating the inflow model from history together with {given[0]}")
    settings = read_estimation_settings(files, rules.order_selections)
    # Cobre also estimates the plants' residual correlation, unless correlation.json gives one, and draws
    # correlated noise from it (an opening tree it exported carries it already).
    correlated = len(hydro_ids) > 1 and not files.exists(CORRELATION)
    if correlated and settings.annual and not files.exists(NOISE_OPENINGS):
        raise unsupported(HISTORY, None, None, "the correlation between plants estimated from history with "
                          f"PAR(p)-A (caudal would draw independent noise; give the opening tree in {NOISE_OPENINGS}, "
                          f"or {CORRELATION})")
    n_seasons, month_season = monthly_seasons(files)
    series = (rules.read_series or _read_series)(files, stages, month_season, hydro_ids)
    means: dict[tuple[int, int], float] = {}
    stds: dict[tuple[int, int], float] = {}
    models: dict[tuple[int, int], ArModel] = {}
    annual: dict[tuple[int, int], AnnualComponent] = {}
    stage_seasons = [(s.id, s.season_id) for s in stages] + sorted(pre_study.items())
    all_fits: dict[int, list[SeasonFit]] = {}
    for hydro_id in hydro_ids:
        if hydro_id not in series:
            raise CaseError(HISTORY, f"hydro {hydro_id}", "hydro_id", "has no history to fit its inflow model to")
        history = _history(hydro_id, series[hydro_id], n_seasons, settings,
                           date_field=rules.date_field, warn_of_position_pairs=rules.pairing == BY_POSITION)
        if settings.annual:
            both = fit_par_annual(history, settings.max_order, settings.max_coefficient_magnitude, rules.pairing)
            fits, annual_fits = [f for f, _ in both], [a for _, a in both]
            weights = expanded_coefficients(both)  # the annual term as weights on the last twelve values
        else:
            fits = fit_par(history, settings.max_order, settings.max_coefficient_magnitude, rules.pairing)
            annual_fits, weights = None, [fit.coefficients for fit in fits]
        if rules.implied_ratios:
            ratios = implied_residual_std_ratios(weights)
            if ratios is None:
                raise unsupported(HISTORY, f"hydro {hydro_id}", None, "a fitted model whose implied residual "
                                  "variance is not positive (how Cobre 0.18.0 runs it is not measured)")
            fits = [replace(fit, residual_std_ratio=ratio) for fit, ratio in zip(fits, ratios, strict=True)]
        all_fits[hydro_id] = fits
        for stage_id, season in stage_seasons:
            if season is None or not 0 <= season < n_seasons:
                continue
            fit: SeasonFit = fits[season]
            means[hydro_id, stage_id], stds[hydro_id, stage_id] = fit.mean, fit.std
            keep_ratio = rules.implied_ratios and fit.residual_std_ratio != 1.0  # an annual term's alone
            if (fit.coefficients or keep_ratio) and stage_id >= 0:
                models[hydro_id, stage_id] = ArModel(fit.coefficients, fit.residual_std_ratio)
            term: AnnualFit | None = annual_fits[season] if annual_fits else None
            if term is not None and stage_id >= 0 and term.coefficient != 0.0 and term.std > 0.0:
                annual[hydro_id, stage_id] = AnnualComponent(term.coefficient, term.mean, term.std)
    correlation = None
    if correlated and not settings.annual:
        correlation = estimate_correlation({h: series[h] for h in hydro_ids}, all_fits,
                                           {s.id: s.season_id for s in stages}, n_seasons)
    return EstimatedInflows(SeriesStats(means, stds), models, annual, correlation)


def read_estimation_settings(
    files: CaseFiles, order_selections: tuple[str, ...] = Rules.order_selections
) -> EstimationSettings:
    return estimation_settings(files.json(CONFIG).record("estimation", None), order_selections)


def estimation_settings(
    section: Record | None, order_selections: tuple[str, ...] = Rules.order_selections
) -> EstimationSettings:
    """``config.json``'s ``estimation`` section, checked; the defaults when it is absent."""
    if section is None:
        return EstimationSettings()
    method = section.string("order_selection", "pacf", choices=order_selections)
    magnitude = section.number("max_coefficient_magnitude", None, minimum=0.0)
    settings = EstimationSettings(
        max_order=section.integer("max_order", 6, minimum=0, maximum=120),
        min_observations_per_season=section.integer("min_observations_per_season", 30, minimum=0),
        max_coefficient_magnitude=magnitude,
        annual=method == "pacf_annual",
    )
    section.finish()
    return settings


def monthly_seasons(files: CaseFiles) -> tuple[int, dict[int, int]]:
    """Number of seasons and the season of each calendar month (1..12)."""
    doc = files.json(STAGES)
    definitions = doc.data.get("season_definitions")
    cycle = definitions.get("cycle_type") if isinstance(definitions, dict) else None
    if cycle != "monthly":
        raise unsupported(STAGES, None, "season_definitions.cycle_type",
                          f"estimating inflow models from history on a {cycle or 'missing'} season cycle")
    starts = sorted((int(s["month_start"]), int(s["id"])) for s in definitions.get("seasons", []))
    if not starts:
        raise CaseError(STAGES, None, "season_definitions.seasons", "is empty, so history dates have no season")
    month_season = {}
    for month in range(1, 13):
        earlier = [season for start, season in starts if start <= month]
        month_season[month] = earlier[-1] if earlier else starts[-1][1]
    return max(season for _, season in starts) + 1, month_season


def _read_series(
    files: CaseFiles, stages: tuple[StageSpec, ...], month_season: dict[int, int], hydro_ids: list[int]
) -> Series:
    """The 0.5.x layout: one ``date`` and ``value_m3s`` per row (``hydro_ids`` are checked by the caller)."""
    numbers = files.table(HISTORY, {"hydro_id": INT, "value_m3s": FLOAT}, read_apart=("date",))
    table = files.parquet(HISTORY)
    if "date" not in table.column_names:
        raise CaseError(HISTORY, None, "date", "column cannot be read: no column 'date' in the Parquet file")
    dates = date_column(HISTORY, table, "date").to_pylist()
    series: dict[int, list[tuple[date, int, float]]] = {}
    for hydro_id, day, value in zip(numbers["hydro_id"], dates, numbers["value_m3s"], strict=True):
        season = season_of(day, stages, month_season)
        series.setdefault(int(hydro_id), []).append((day, season, float(value)))
    for rows in series.values():
        rows.sort(key=lambda row: row[0])
    return series


def season_of(day: date, stages: tuple[StageSpec, ...], month_season: dict[int, int]) -> int:
    """A study stage's season when the date falls in one (as Cobre does), else the calendar's."""
    for stage in stages:
        if stage.start <= day < stage.end and stage.season_id is not None:
            return stage.season_id
    return month_season[day.month]


def _history(
    hydro_id: int, rows: list[tuple[date, int, float]], n_seasons: int, settings: EstimationSettings,
    *, date_field: str = "date", warn_of_position_pairs: bool = True,
) -> History:
    entity = f"hydro {hydro_id}"
    for (before, _, _), (after, _, _) in zip(rows, rows[1:], strict=False):
        months = (after.year - before.year) * 12 + after.month - before.month
        if months != 1:
            problem = "appears twice in one month" if months == 0 else "has a gap"
            raise CaseError(HISTORY, entity, date_field,
                            f"{problem} between {before} and {after} (one value per month)")
    seasons = np.array([season for _, season, _ in rows], dtype=np.int64)
    counts = np.bincount(seasons, minlength=n_seasons)
    fewest = int(counts.argmin())
    if counts[fewest] < max(settings.min_observations_per_season, 2):
        raise CaseError(
            HISTORY, entity, "value_m3s",
            f"season {fewest} has {counts[fewest]} observations, fewer than "
            f"estimation.min_observations_per_season ({settings.min_observations_per_season}) or 2",
        )
    if seasons[0] != 0 and warn_of_position_pairs:
        warnings.warn(
            f"{HISTORY}: {entity}'s history starts in season {int(seasons[0])}, not 0: like Cobre 0.5.1, caudal "
            "pairs each season's values with the earlier season's by their position in the two lists, so the "
            "correlations across the start of the cycle pair values a year apart; start the history in season 0 "
            "for chronological pairs",
            CaseWarning,
            stacklevel=2,
        )
    return History(np.array([value for _, _, value in rows]), seasons, n_seasons)
