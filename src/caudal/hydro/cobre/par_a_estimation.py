"""Fit a PAR(p)-A inflow model (PAR(p) plus the annual component) to one plant's monthly history.

Cobre 0.5.x's ``"order_selection": "pacf_annual"`` adds to each season ``m``'s
periodic AR model a regressor ``A[t-1]``, the mean of the twelve inflows that
end at ``t-1``, with a coefficient ``psi`` fitted together with the AR
coefficients ``phi``. The steps, in standardised units:

1. The seasonal mean and deviation of the inflows are the classical ones
   (:func:`caudal.hydro.cobre.par_estimation.seasonal_stats`).
2. Every complete twelve-value window of the history except the last one
   gives one ``A``; it belongs to the season of its most recent month. Each
   season's ``A`` values have a mean and a deviation (``1/N`` divisor): the
   ``annual_mean_m3s`` / ``annual_std_m3s`` of the season that follows.
3. Correlations between an ``A`` and an inflow pair them chronologically and,
   unlike the inflow autocorrelations, divide by the larger of the two
   seasons' sample counts (the missing first-year ``A`` values count as
   their mean).
4. The order is chosen from the *conditional* partial autocorrelation of
   ``Z[t]`` and ``Z[t-k]`` given ``Z[t-1..t-k+1]`` and ``A[t-1]``: the largest
   ``k`` whose magnitude exceeds ``1.96 / sqrt(N)``, and at least 1 unless
   the lag-1 value is exactly zero.
5. ``phi`` and ``psi`` solve the periodic Yule-Walker system extended by one
   row and column for ``A[t-1]``; the residual ratio is
   ``sqrt(1 - solution . rhs)``.
6. The safety reductions of the classical path act on ``phi`` only (too large
   a coefficient or a negative ``phi[1]`` drops the AR part and keeps
   ``psi``; negative contributions lower the order and refit both).

Everything is chronological arrays, as in :mod:`caudal.hydro.cobre.par_estimation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from caudal.hydro.cobre.par_estimation import (
    BY_POSITION,
    Z_95,
    History,
    SeasonFit,
    _Fitter,
    lower_orders_while_contributions_are_negative,
    seasonal_stats,
)

ANNUAL_WINDOW = 12
"""Months averaged into one annual value ``A``."""


@dataclass(frozen=True)
class AnnualFit:
    """A season's fitted annual term: ``psi`` and the statistics of ``A[t-1]`` it multiplies."""

    coefficient: float
    mean: float
    std: float


def fit_par_annual(
    history: History, max_order: int, max_coefficient_magnitude: float | None = None, pairing: str = BY_POSITION
) -> list[tuple[SeasonFit, AnnualFit]]:
    """The PAR(p)-A model of every season (see the module docstring for the steps).

    ``pairing`` forms the inflow autocorrelations' pairs as in
    :func:`caudal.hydro.cobre.par_estimation.fit_par`; the correlations with
    ``A`` are chronological in both Cobre versions.
    """
    fitter = _AnnualFitter(history, pairing)
    n = history.n_seasons
    fits = [fitter.initial_fit(m, max_order) for m in range(n)]
    for m, (phi, _, psi) in enumerate(fits):
        too_large = max_coefficient_magnitude is not None and any(abs(c) > max_coefficient_magnitude for c in phi)
        if too_large or (phi and phi[0] < 0.0):
            fits[m] = ((), 1.0, psi)
    _reduce_negative_contributions(fits, fitter, max_order)
    out = []
    for m, (phi, ratio, psi) in enumerate(fits):
        previous = (m - 1) % n
        season = SeasonFit(float(fitter.means[m]), float(fitter.stds[m]), phi, ratio)
        out.append((season, AnnualFit(psi, float(fitter.annual_means[previous]), float(fitter.annual_stds[previous]))))
    return out


def expanded_coefficients(fits: list[tuple[SeasonFit, AnnualFit]]) -> list[tuple[float, ...]]:
    """Each season's model as standardised coefficients on its last twelve values, the annual term spread.

    ``psi (A[t-1] - mu_A) / sigma_A`` weighs the standardised value ``j``
    months back by ``psi * s[m - j] / (12 sigma_A)``; added to ``phi`` this
    is the PAR(12) whose implied correlations give Cobre 0.18.0's residual
    std ratios (:func:`caudal.hydro.cobre.par_estimation.implied_residual_std_ratios`).
    """
    return spread_annual_terms([fit.coefficients for fit, _ in fits], [term for _, term in fits],
                               [fit.std for fit, _ in fits])


class _AnnualTerm(Protocol):
    coefficient: float
    std: float


def spread_annual_terms(
    coefficients: list[tuple[float, ...]], terms: list[_AnnualTerm | None], stds: list[float]
) -> list[tuple[float, ...]]:
    """Season ``m``'s ``coefficients`` plus its annual term (``coefficient``, ``std`` of ``A``; ``None``: none)
    as weights ``psi * stds[m - j] / (12 sigma_A)`` on the value ``j`` months back (see
    :func:`expanded_coefficients`); for fitted and for given (``inflow_annual_component.parquet``) terms alike."""
    n = len(coefficients)
    expanded = []
    for m, (phi, term) in enumerate(zip(coefficients, terms, strict=True)):
        weights = list(phi) + [0.0] * max(0, ANNUAL_WINDOW - len(phi))
        if term is not None and term.coefficient != 0.0 and term.std > 0.0:
            for j in range(ANNUAL_WINDOW):
                weights[j] += term.coefficient * stds[(m - j - 1) % n] / (ANNUAL_WINDOW * term.std)
        expanded.append(tuple(weights))
    return expanded


def annual_values(history: History) -> tuple[np.ndarray, np.ndarray]:
    """``A`` at every month ``tau`` that ends a window (all but the last complete one), and those ``tau``."""
    n_values = history.values.size
    ends = np.arange(ANNUAL_WINDOW - 1, n_values - 1)
    sums = np.convolve(history.values, np.ones(ANNUAL_WINDOW), mode="valid")  # sums[i] ends at i + 11
    return sums[: ends.size] / ANNUAL_WINDOW, ends


class _AnnualFitter(_Fitter):
    """The classical periodic correlations plus those that involve ``A``."""

    def __init__(self, history: History, pairing: str = BY_POSITION):
        means, stds = seasonal_stats(history)
        super().__init__(history, means, stds, pairing)
        self.annual, self.annual_at = annual_values(history)
        annual_seasons = history.seasons[self.annual_at]
        n = history.n_seasons
        self.z_counts = np.bincount(history.seasons, minlength=n)
        self.a_counts = np.bincount(annual_seasons, minlength=n)
        self.annual_means = np.zeros(n)
        self.annual_stds = np.zeros(n)
        for m in range(n):
            values = self.annual[annual_seasons == m]
            if values.size:
                self.annual_means[m], self.annual_stds[m] = values.mean(), values.std(ddof=0)
        self._annual_seasons = annual_seasons

    def z_a(self, season: int, lag: int) -> float:
        """Correlation of ``A`` ending in ``season`` with the inflow ``lag`` months before its last one."""
        n = self.history.n_seasons
        lag_season = (season - lag) % n
        return self._cross(season, lag_season, -lag)

    def a_z_next(self, season: int) -> float:
        """Correlation of ``A`` ending in ``season`` with the inflow of the month after it."""
        return self._cross(season, (season + 1) % self.history.n_seasons, 1)

    def _cross(self, season: int, z_season: int, offset: int) -> float:
        s_a, s_z = self.annual_stds[season], self.stds[z_season]
        if abs(s_a) < np.finfo(float).eps or abs(s_z) < np.finfo(float).eps:
            return 0.0
        picked = self._annual_seasons == season
        at = self.annual_at[picked] + offset
        keep = (at >= 0) & (at < self.history.values.size)
        if not np.any(keep):
            return 0.0
        a = self.annual[picked][keep] - self.annual_means[season]
        z = self.history.values[at[keep]] - self.means[z_season]
        divisor = max(int(self.a_counts[season]), int(self.z_counts[z_season]))
        return float(np.clip((a @ z) / divisor / (s_a * s_z), -1.0, 1.0))

    def conditional_pacf(self, season: int, max_order: int) -> list[float]:
        """Partial correlation of ``Z[t]`` and ``Z[t-k]`` given ``Z[t-1..t-k+1]`` and ``A[t-1]``, k = 1..max_order."""
        n = self.history.n_seasons
        prev = (season - 1) % n
        values = []
        for k in range(1, max_order + 1):
            inner = np.eye(k)  # conditioning set: Z[t-1] .. Z[t-k+1], then A[t-1]
            for i in range(k - 1):
                for j in range(i + 1, k - 1):
                    inner[i, j] = inner[j, i] = self.rho((prev - i) % n, j - i)
                inner[i, k - 1] = inner[k - 1, i] = self.z_a(prev, i)
            outer = np.zeros((2, k))  # rows: Z[t], Z[t-k]
            for j in range(k - 1):
                outer[0, j] = self.rho(season, j + 1)
                outer[1, j] = self.rho((season - 1 - j) % n, k - 1 - j)
            outer[0, k - 1] = self.a_z_next(prev)
            outer[1, k - 1] = self.z_a(prev, k - 1)
            try:
                solved = np.linalg.solve(inner, outer.T)
            except np.linalg.LinAlgError:
                break
            rho_k = self.rho(season, k)
            conditional = np.array([[1.0, rho_k], [rho_k, 1.0]]) - outer @ solved
            scale = conditional[0, 0] * conditional[1, 1]
            values.append(float(np.clip(conditional[0, 1] / np.sqrt(scale), -1.0, 1.0)) if scale > 0.0 else 0.0)
        return values

    def select_order(self, season: int, max_order: int) -> int:
        values = self.conditional_pacf(season, max_order)
        if not values or values[0] == 0.0:
            return 0
        threshold = Z_95 / np.sqrt(int(self.z_counts[season]))
        significant = [k for k, value in enumerate(values, start=1) if abs(value) > threshold]
        return max(significant[-1] if significant else 0, 1)

    def fit_annual(self, season: int, order: int) -> tuple[tuple[float, ...], float, float]:
        """``phi``, the residual std ratio and ``psi`` from the extended Yule-Walker system at ``order``."""
        n = self.history.n_seasons
        prev = (season - 1) % n
        matrix = np.eye(order + 1)
        rhs = np.zeros(order + 1)
        if order:
            matrix[:order, :order], rhs[:order] = self.yule_walker(season, order)
        for i in range(order):
            matrix[i, order] = matrix[order, i] = self.z_a(prev, i)
        rhs[order] = self.a_z_next(prev)
        try:
            solution = np.linalg.solve(matrix, rhs)
        except np.linalg.LinAlgError:
            return (), 1.0, 0.0
        if not np.all(np.isfinite(solution)):
            return (), 1.0, 0.0
        sigma2 = 1.0 - float(solution @ rhs)
        ratio = float(np.clip(np.sqrt(sigma2), np.finfo(float).eps, 1.0)) if sigma2 > 0.0 else 1.0
        return tuple(float(c) for c in solution[:order]), ratio, float(solution[order])

    def has_data(self, season: int, annual_season: int) -> bool:
        return (self.stds[season] != 0.0 and self.z_counts[season] >= 2
                and self.a_counts[annual_season] > 0 and self.annual_stds[annual_season] != 0.0)

    def initial_fit(self, season: int, max_order: int) -> tuple[tuple[float, ...], float, float]:
        if not self.has_data(season, (season - 1) % self.history.n_seasons):
            return (), 1.0, 0.0
        return self.fit_annual(season, self.select_order(season, max_order) if max_order else 0)


def _reduce_negative_contributions(
    fits: list[tuple[tuple[float, ...], float, float]], fitter: _AnnualFitter, max_order: int
) -> None:
    """Lower the AR order of each season whose contributions turn negative, refitting ``phi`` and ``psi``."""

    def refit(m: int, order_limit: int) -> tuple[tuple[tuple[float, ...], float, float], bool]:
        if not fitter.has_data(m, m):  # Cobre checks the season's own A bucket here
            return ((), 1.0, fits[m][2]), True
        fit = fitter.fit_annual(m, fitter.select_order(m, order_limit) if order_limit else 0)
        if order_limit == 0 or not fit[0]:
            return fit, True
        if fit[0][0] < 0.0:
            return fitter.fit_annual(m, 0), True
        return fit, False

    lower_orders_while_contributions_are_negative(fits, fitter.stds, max_order, refit)
