"""Fit a periodic autoregressive PAR(p) inflow model to one plant's monthly history.

The steps are those of Cobre 0.5.x's ``"order_selection": "pacf"`` path (config
schema, ``EstimationConfig``):

1. Seasonal mean and standard deviation (population divisor ``1/N``, the
   Maceira-Damazio convention Cobre 0.5.1 follows) of each season.
2. Periodic autocorrelation ``rho(m, k)`` between season ``m`` and the value
   ``k`` steps earlier, divided by the number of pairs and normalised by the
   two seasons' standard deviations. How the pairs are formed is the one
   rule that differs between Cobre's versions (``pairing``, see
   ``_correlation``): Cobre 0.5.1 pairs by position in each season's list of
   values (:data:`BY_POSITION`: every chronological pair when the history
   starts in season 0, but a year apart for a history that starts later in
   the cycle); Cobre 0.18.0 pairs each value with the one ``k`` months
   before it (:data:`CHRONOLOGICAL`; measured on d26 started in February and
   on d12's history started in April, ``tests/test_cobre_018_estimation.py``).
   Both give the same pairs for a history that starts in season 0.
3. For each order ``k`` up to ``max_order`` the periodic Yule-Walker system
   (non-Toeplitz: row ``i`` uses the correlations of season ``m - i - 1``);
   its last coefficient is the periodic partial autocorrelation at lag ``k``.
4. The order is the largest lag whose |PACF| exceeds ``1.96 / sqrt(N)``, ``N``
   the season's number of observations; the coefficients solve the system at
   that order and the residual std ratio is ``sqrt(1 - phi . rhs)``.
5. Safety reductions: coefficients beyond ``max_coefficient_magnitude`` or a
   negative lag-1 coefficient make the season white noise; a season whose
   *contributions* (the original-unit weight of each past inflow once the
   lags of earlier seasons are expanded) turn negative has its largest order
   lowered by one and is selected again, until every contribution is
   non-negative.

Everything works on plain arrays (season-major) so it can be checked against
an independent Yule-Walker fit; reading the file is in
:mod:`caudal.hydro.cobre.inflow_history`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Z_95 = 1.96
"""Two-sided 95% normal quantile: the PACF significance threshold is ``Z_95 / sqrt(N)``."""

BY_POSITION = "position"
"""Cobre 0.5.1's pairs: the k-th value of the lagged season with the (k + years crossed)-th of the other."""
CHRONOLOGICAL = "chronological"
"""Cobre 0.18.0's pairs: every value with the one ``lag`` steps before it in the history."""
PAIRINGS = (BY_POSITION, CHRONOLOGICAL)


@dataclass(frozen=True)
class SeasonFit:
    """The fitted model of one season: standardised AR coefficients (lag 1 first)."""

    mean: float
    std: float
    coefficients: tuple[float, ...]
    residual_std_ratio: float


@dataclass(frozen=True)
class History:
    """One plant's chronological history: ``values[i]`` falls in season ``seasons[i]``."""

    values: np.ndarray  # float64[N]
    seasons: np.ndarray  # int64[N], 0 .. n_seasons - 1
    n_seasons: int


def fit_par(
    history: History, max_order: int, max_coefficient_magnitude: float | None = None, pairing: str = BY_POSITION
) -> list[SeasonFit]:
    """The PAR(p) model of every season (see the module docstring for the steps and ``pairing``)."""
    means, stds = seasonal_stats(history)
    fitter = _Fitter(history, means, stds, pairing)
    counts = np.bincount(history.seasons, minlength=history.n_seasons)
    fits: list[tuple[tuple[float, ...], float]] = [
        fitter.select_and_fit(m, max_order, int(counts[m])) for m in range(history.n_seasons)
    ]
    for m, (coefficients, _) in enumerate(fits):
        too_large = max_coefficient_magnitude is not None and any(
            abs(c) > max_coefficient_magnitude for c in coefficients
        )
        if too_large or (coefficients and coefficients[0] < 0.0):
            fits[m] = ((), 1.0)
    _reduce_negative_contributions(fits, fitter, stds, max_order, counts)
    return [SeasonFit(float(means[m]), float(stds[m]), c, r) for m, (c, r) in enumerate(fits)]


def seasonal_stats(history: History) -> tuple[np.ndarray, np.ndarray]:
    """Per-season sample mean and standard deviation with the population divisor (``1/N``).

    A season whose values are all equal, or more than half of whose values
    round to one integer (a plant at its cap), is degenerate: its mean is that
    value and its deviation 0, so it gets no AR model and no noise.
    """
    means = np.zeros(history.n_seasons)
    stds = np.zeros(history.n_seasons)
    for m in range(history.n_seasons):
        values = history.values[history.seasons == m]
        if values.size == 0:
            continue
        means[m], stds[m] = values.mean(), values.std(ddof=0)
        degenerate = _degenerate_value(values)
        if degenerate is not None:
            means[m], stds[m] = degenerate, 0.0
    return means, stds


CONSTANT_TOLERANCE = 1e-6
"""Values this close to the first count as equal (absorbs a Parquet float round trip)."""


def _degenerate_value(values: np.ndarray) -> float | None:
    """The value of a constant or saturated season, ``None`` for an ordinary one.

    Over 10% negative values makes a season ordinary whatever its mode
    (Cobre only reports such a history).
    """
    if np.all(np.abs(values - values[0]) < CONSTANT_TOLERANCE):
        return float(values[0])
    if np.count_nonzero(values < 0.0) / values.size > 0.10:
        return None
    half_away_from_zero = np.sign(values) * np.floor(np.abs(values) + 0.5)
    rounded, counts = np.unique(half_away_from_zero, return_counts=True)
    best = int(np.argmax(counts))  # the smallest of equally frequent values
    return float(rounded[best]) if counts[best] / values.size > 0.50 else None


class _Fitter:
    """Periodic correlations of one history, computed once per (season, lag)."""

    def __init__(self, history: History, means: np.ndarray, stds: np.ndarray, pairing: str = BY_POSITION):
        if pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
        self.history = history
        self.pairing = pairing
        self.means = means
        self.stds = stds
        self._rho: dict[tuple[int, int], float] = {}

    def rho(self, season: int, lag: int) -> float:
        """Correlation of season ``season`` with the value ``lag`` steps before it."""
        if lag == 0:
            return 1.0
        key = (season, lag)
        if key not in self._rho:
            self._rho[key] = self._correlation(season, lag)
        return self._rho[key]

    def _correlation(self, season: int, lag: int) -> float:
        h = self.history
        lag_season = (season - lag) % h.n_seasons
        s_ref, s_lag = self.stds[season], self.stds[lag_season]
        if abs(s_ref) < np.finfo(float).eps or abs(s_lag) < np.finfo(float).eps:
            return 0.0
        if self.pairing == CHRONOLOGICAL:
            at = np.flatnonzero(h.seasons == season)
            at = at[at >= lag]
            ref, lagged = h.values[at], h.values[at - lag]
        else:
            # Cobre 0.5.1 pairs the k-th value of the lagged season with the (k + years crossed)-th
            # of this one, as if every season's values began in the same year: chronological pairs
            # when the history starts in season 0, a year apart for the seasons before its first month.
            crossed = int(lag_season >= season) if lag < h.n_seasons else lag // h.n_seasons
            ref = h.values[h.seasons == season][crossed:]
            lagged = h.values[h.seasons == lag_season]
        n_pairs = min(ref.size, lagged.size)
        if n_pairs == 0:
            return 0.0
        products = (ref[:n_pairs] - self.means[season]) * (lagged[:n_pairs] - self.means[lag_season])
        return float(np.clip(products.sum() / n_pairs / (s_ref * s_lag), -1.0, 1.0))

    def yule_walker(self, season: int, order: int) -> tuple[np.ndarray, np.ndarray]:
        """The periodic Yule-Walker matrix and right-hand side of ``season`` at ``order``."""
        n = self.history.n_seasons
        matrix = np.eye(order)
        for i in range(order):
            row_season = (season - (i + 1)) % n
            for j in range(i + 1, order):
                matrix[i, j] = matrix[j, i] = self.rho(row_season, j - i)
        rhs = np.array([self.rho(season, k) for k in range(1, order + 1)])
        return matrix, rhs

    def pacf(self, season: int, max_order: int) -> list[float]:
        """Periodic partial autocorrelations at lags 1..max_order (shorter if a system is singular)."""
        values = []
        for k in range(1, max_order + 1):
            solved = _solve(*self.yule_walker(season, k))
            if solved is None:
                break
            values.append(float(solved[-1]))
        return values

    def select_and_fit(self, season: int, max_order: int, n_obs: int) -> tuple[tuple[float, ...], float]:
        if max_order == 0 or self.stds[season] == 0.0 or n_obs < 2:
            return (), 1.0
        threshold = Z_95 / np.sqrt(n_obs)
        order = 0
        for k, value in enumerate(self.pacf(season, max_order), start=1):
            if abs(value) > threshold:
                order = k
        return self.fit(season, order)

    def fit(self, season: int, order: int) -> tuple[tuple[float, ...], float]:
        """Coefficients and residual std ratio at a given order (white noise if the system is singular)."""
        if order == 0:
            return (), 1.0
        sigma2 = 1.0
        phi = None
        for k in range(1, order + 1):  # every lower order must be solvable too
            matrix, rhs = self.yule_walker(season, k)
            phi = _solve(matrix, rhs)
            if phi is None:
                return (), 1.0
            sigma2 = 1.0 - float(phi @ rhs)
        ratio = float(np.clip(np.sqrt(sigma2), np.finfo(float).eps, 1.0)) if sigma2 > 0.0 else 1.0
        return tuple(float(c) for c in phi), ratio


def implied_residual_std_ratios(coefficients: list[tuple[float, ...]]) -> list[float] | None:
    """Each season's residual std ratio such that the model itself gives every season unit variance.

    The model's own periodic autocorrelations ``r(m, k)`` solve the linear
    system ``r(m, k) = sum_l phi[m][l] r(m - l, k - l)`` (with ``r(., 0) = 1``
    and ``r(a, -j) = r(a + j, j)``), and the ratio is ``sqrt(1 - sum_l
    phi[m][l] r(m, l))``. For an unreduced Yule-Walker fit these ``r`` are
    the sample correlations up to each order, so the ratio is the fit's; a
    season reduced to white noise changes the ``r`` of the seasons that read
    it as a lag, and with them their ratios. This is how Cobre 0.18.0 sets the
    ratios (measured: d26 with ``max_coefficient_magnitude`` 0.9, whose
    reduced seasons left the fit's ratios 1.2% off Cobre's cost). ``None``
    when the system is singular or a variance is not positive.
    """
    n = len(coefficients)
    order = max((len(phi) for phi in coefficients), default=0)
    if order == 0:
        return [1.0] * n

    def unknown(season: int, lag: int) -> int:
        return (season % n) * order + lag - 1

    matrix = np.eye(n * order)
    rhs = np.zeros(n * order)
    for m, phi in enumerate(coefficients):
        for k in range(1, order + 1):
            row = unknown(m, k)
            for lag, c in enumerate(phi, start=1):
                if lag == k:
                    rhs[row] += c
                elif lag < k:  # z[t - lag] against z[t - k]: season m - lag, k - lag apart
                    matrix[row, unknown(m - lag, k - lag)] -= c
                else:  # z[t - k] against z[t - lag]: season m - k, lag - k apart
                    matrix[row, unknown(m - k, lag - k)] -= c
    solved = _solve(matrix, rhs)
    if solved is None:
        return None
    ratios = []
    for m, phi in enumerate(coefficients):
        variance = 1.0 - sum(c * solved[unknown(m, lag)] for lag, c in enumerate(phi, start=1))
        if variance <= 0.0:
            return None
        ratios.append(float(np.sqrt(variance)))
    return ratios


def _solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    try:
        solution = np.linalg.solve(matrix, rhs)
    except np.linalg.LinAlgError:
        return None
    return solution if np.all(np.isfinite(solution)) else None


def contributions(season: int, order: int, coefficients: list[tuple[float, ...]], stds: np.ndarray) -> list[float]:
    """Original-unit weight of the inflow 1..order steps back once earlier seasons' lags are expanded.

    Lag 1 weighs ``psi[m, 1]``; lag ``i + 1`` adds, through the lag-1 path,
    ``w[i] * psi[m - i, j]`` to the direct terms (``psi = phi * s[m] / s[m - l]``).
    """
    n = len(coefficients)

    def psi(m: int, j: int) -> float:  # j is 0-based
        coefs = coefficients[m]
        lagged = stds[(m - (j + 1)) % n]
        if j >= len(coefs) or lagged == 0.0:
            return 0.0
        return coefs[j] * stds[m] / lagged

    row = [psi(season, j) for j in range(order)]
    out = [row[0]]
    for i in range(1, order):
        prev_season = (season - i) % n
        row = [row[0] * psi(prev_season, j) + row[j + 1] for j in range(order - i)]
        out.append(row[0])
    return out


def _reduce_negative_contributions(
    fits: list[tuple[tuple[float, ...], float]],
    fitter: _Fitter,
    stds: np.ndarray,
    max_order: int,
    counts: np.ndarray,
) -> None:
    """Lower the largest order of each season whose contributions turn negative, until none do."""

    def refit(m: int, order_limit: int) -> tuple[tuple[tuple[float, ...], float], bool]:
        if order_limit == 0 or stds[m] == 0.0 or counts[m] < 2:
            return ((), 1.0), True
        fit = fitter.select_and_fit(m, order_limit, int(counts[m]))
        if fit[0] and fit[0][0] < 0.0:
            return ((), 1.0), True
        return fit, False

    lower_orders_while_contributions_are_negative(fits, stds, max_order, refit)


def lower_orders_while_contributions_are_negative(
    fits: list[tuple[Any, ...]],
    stds: np.ndarray,
    max_order: int,
    refit: Callable[[int, int], tuple[tuple[Any, ...], bool]],
) -> None:
    """Cobre's safety reduction, shared by the PAR and PAR-A fits: lower a season's order while it fails.

    A season fails when one of its contributions (:func:`contributions`, from each fit's coefficients,
    its first item) is negative. Each round lowers every failing season's order limit by one and calls
    ``refit(season, limit)``, which returns the new fit and whether the season is settled for good;
    the rounds end when no season fails, or when no failing season was refitted to go on.
    """
    n = len(fits)
    max_orders = [max_order] * n
    frozen = [not fit[0] for fit in fits]
    while True:
        coefficients = [fit[0] for fit in fits]
        failing = [
            m for m in range(n)
            if not frozen[m] and coefficients[m]
            and any(w < 0.0 for w in contributions(m, len(coefficients[m]), coefficients, stds))
        ]
        if not failing:
            return
        reselected = False
        for m in failing:
            if max_orders[m] == 0:
                continue
            max_orders[m] -= 1
            fits[m], frozen[m] = refit(m, max_orders[m])
            reselected = reselected or not frozen[m]
        if not reselected:
            return
