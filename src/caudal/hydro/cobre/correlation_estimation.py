"""The correlation between plants' inflows, estimated from their histories with the PAR(p) fit.

When Cobre fits the inflow models of several plants from ``inflow_history.parquet``
and the case has no ``correlation.json``, it also estimates how the plants'
noises move together, and correlates the noise it draws with that
(:mod:`caudal.hydro.cobre.correlation`). The rule below is Cobre 0.5.1's (its
``estimate_correlation_with_season_map``, read for the facts), and caudal's
result equals the ``correlation.json`` Cobre 0.5.1 exports, and on 0.18's fits
the one Cobre 0.18.0 exports (``tests/test_cobre_estimated_correlation.py``):

1. each plant's residuals: for each observation, its standardised value
   ``z = (value - mean) / std`` of its season's fit (0 when the std is 0) minus
   ``sum_l phi_l z[t-l]``, ``phi`` the season's final AR coefficients and
   ``z[t-l]`` the ``l``-th observation before it, standardised with the
   statistics of season ``season - l``; an observation with fewer than ``p``
   before it has none;
2. the ``default`` profile: for every pair of plants, the Pearson correlation
   (divisor ``n - 1``, clamped to [-1, 1]; 0 with fewer than two common dates or
   a constant series) of their residuals on the dates both have, all seasons
   pooled;
3. a ``season_MM`` profile per season in which every pair of plants has at
   least 30 common dates, the same correlation on that season's residuals
   alone; each stage of such a season takes it, the others ``default``.

Residuals are not divided by the residual deviation: the pooled correlation
then weights each season by its own residual variance, as Cobre's does.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from caudal.hydro.cobre.correlation import DEFAULT_PROFILE, Correlation, CorrelationGroup
from caudal.hydro.cobre.par_estimation import SeasonFit

MIN_PAIRS = 30
"""Fewest common dates of every pair of plants for a season to get its own matrix."""

Residuals = dict[int, dict[date, float]]  # season -> date -> residual


def estimate_correlation(
    series: dict[int, list[tuple[date, int, float]]],
    fits: dict[int, list[SeasonFit]],
    stage_seasons: dict[int, int | None],
    n_seasons: int,
) -> Correlation:
    """The plants' correlation profiles (``series``: per hydro its (date, season, value) rows in date order;
    ``fits``: per hydro its fit of each season; ``stage_seasons``: each study stage's season)."""
    hydro_ids = sorted(fits)
    residuals = [_residuals(series[h], fits[h], n_seasons) for h in hydro_ids]
    entities = tuple(("inflow", h) for h in hydro_ids)
    profiles = {DEFAULT_PROFILE: (CorrelationGroup(DEFAULT_PROFILE, entities, _pearson(
        [{day: value for by_date in r.values() for day, value in by_date.items()} for r in residuals])),)}
    width = len(str(max(n_seasons - 1, 0)))
    for season in range(n_seasons):
        in_season = [r.get(season, {}) for r in residuals]
        if _fewest_common_dates(in_season) >= MIN_PAIRS:
            profiles[f"season_{season:0{width}d}"] = (CorrelationGroup(DEFAULT_PROFILE, entities,
                                                                       _pearson(in_season)),)
    return Correlation(profiles, {
        stage: name if (name := f"season_{season:0{width}d}") in profiles and season is not None else DEFAULT_PROFILE
        for stage, season in stage_seasons.items()
    })


def _residuals(rows: list[tuple[date, int, float]], fits: list[SeasonFit], n_seasons: int) -> Residuals:
    def standard(value: float, season: int) -> float:
        fit = fits[season]
        return 0.0 if fit.std == 0.0 else (value - fit.mean) / fit.std

    out: Residuals = {}
    for position, (day, season, value) in enumerate(rows):
        phi = fits[season].coefficients
        if position < len(phi):
            continue
        lagged = sum(p * standard(rows[position - lag][2], (season - lag) % n_seasons)
                     for lag, p in enumerate(phi, start=1))
        out.setdefault(season, {})[day] = standard(value, season) - lagged
    return out


def _fewest_common_dates(residuals: list[dict[date, float]]) -> int:
    if len(residuals) == 1:
        return len(residuals[0])
    return min(len(residuals[i].keys() & residuals[j].keys())
               for i in range(len(residuals)) for j in range(i + 1, len(residuals)))


def _pearson(residuals: list[dict[date, float]]) -> np.ndarray:
    n = len(residuals)
    matrix = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            common = sorted(residuals[i].keys() & residuals[j].keys())
            if len(common) < 2:
                continue
            pairs = np.array(sorted((residuals[i][d], residuals[j][d]) for d in common))
            centred = pairs - pairs.mean(axis=0)
            denominator = len(common) - 1.0
            var_i, var_j = (centred**2).sum(axis=0) / denominator
            if np.sqrt(var_i) < np.finfo(float).eps or np.sqrt(var_j) < np.finfo(float).eps:
                continue
            rho = float(centred[:, 0] @ centred[:, 1] / denominator / np.sqrt(var_i * var_j))
            matrix[i, j] = matrix[j, i] = min(1.0, max(-1.0, rho))
    return matrix
