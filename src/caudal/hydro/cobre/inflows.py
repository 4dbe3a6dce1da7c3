"""The PAR(p) inflow model of every hydro plant, in the form the stage LP uses.

For hydro ``h`` at study stage ``t`` with standardised AR coefficients
``phi[l]`` (``inflow_ar_coefficients.parquet``), seasonal means ``mu`` and
standard deviations ``s`` (``inflow_seasonal_stats.parquet``), the incremental
inflow in m3/s is::

    a[t] = base[t] + sum_l psi[t, l] * a[t - l] + sigma[t] * eta[t]
    psi[t, l] = phi[l] * s[t] / s[t - l]               (original units)
    base[t]   = mu[t] - sum_l psi[t, l] * mu[t - l]
    sigma[t]  = s[t] * residual_std_ratio[t]

with ``eta`` the opening's standard noise. The lagged inflows ``a[t - l]`` are
state variables; before the study they come from ``past_inflows`` and their
statistics from pre-study stages (negative stage ids) of the statistics file.
A stage's statistics row is looked up by its id and, failing that, by its
season: the first study stage of the same ``season_id``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caudal.hydro.cobre.case import Case
from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.scenarios import AR_COEFFICIENTS, INFLOW_STATS, INITIAL

CONFIG = "config.json"


@dataclass(frozen=True)
class InflowModel:
    """Arrays over (study stage, hydro in case order[, lag - 1])."""

    n_lags: np.ndarray  # int64[H]: lags kept as states for each hydro (its largest AR order)
    base: np.ndarray  # float64[T, H]
    psi: np.ndarray  # float64[T, H, max lags]
    sigma: np.ndarray  # float64[T, H]
    initial_lags: tuple[tuple[float, ...], ...]  # per hydro: inflow 1..n_lags stages before the study

    def deterministic_part(self, t: int, h: int, lags: np.ndarray) -> float:
        """``base + psi . lags`` for stage ``t`` and hydro ``h`` (lags most recent first)."""
        n = int(self.n_lags[h])
        return float(self.base[t, h] + self.psi[t, h, :n] @ lags[:n])


def resolve_inflows(case: Case) -> InflowModel:
    n_stages, n_hydros = len(case.stages), len(case.hydros)
    orders = np.zeros((n_stages, n_hydros), dtype=np.int64)
    for h, hydro in enumerate(case.hydros):
        for t, stage in enumerate(case.stages):
            model = case.ar_models.get((hydro.id, stage.id))
            orders[t, h] = 0 if model is None else len(model.coefficients)
    n_lags = orders.max(axis=0) if n_stages else np.zeros(n_hydros, dtype=np.int64)
    base = np.zeros((n_stages, n_hydros))
    psi = np.zeros((n_stages, n_hydros, int(n_lags.max(initial=0))))
    sigma = np.zeros((n_stages, n_hydros))
    for h, hydro in enumerate(case.hydros):
        for t, stage in enumerate(case.stages):
            mean, std = _stats(case, hydro.id, stage.id, None)
            model = case.ar_models.get((hydro.id, stage.id))
            base[t, h] = mean
            sigma[t, h] = std
            if model is None:
                continue
            sigma[t, h] = std * model.residual_std_ratio
            for lag, phi in enumerate(model.coefficients, start=1):
                lag_mean, lag_std = _stats(case, hydro.id, stage.id - lag, (stage.id, lag))
                if lag_std == 0.0:
                    if phi == 0.0:
                        continue
                    raise CaseError(
                        INFLOW_STATS, f"hydro {hydro.id}", "std_m3s",
                        f"is 0 for stage {stage.id - lag}, but stage {stage.id} has a lag-{lag} AR coefficient",
                    )
                psi[t, h, lag - 1] = phi * std / lag_std
                base[t, h] -= psi[t, h, lag - 1] * lag_mean
    initial = tuple(_initial_lags(case, hydro.id, int(n_lags[h])) for h, hydro in enumerate(case.hydros))
    return InflowModel(n_lags=n_lags, base=base, psi=psi, sigma=sigma, initial_lags=initial)


def _stats(case: Case, hydro_id: int, stage_id: int, needed_by: tuple[int, int] | None) -> tuple[float, float]:
    found = case.inflow_stats.get(hydro_id, stage_id)
    if found is not None:
        return found
    season = _season(case, stage_id)
    if season is not None:
        for stage in case.stages:
            if stage.season_id == season and case.inflow_stats.get(hydro_id, stage.id) is not None:
                return case.inflow_stats.get(hydro_id, stage.id)
    reason = "" if needed_by is None else f", needed by the lag-{needed_by[1]} coefficient of stage {needed_by[0]}"
    raise CaseError(INFLOW_STATS, f"hydro {hydro_id}", "stage_id", f"has no row for stage {stage_id}{reason}")


def _season(case: Case, stage_id: int) -> int | None:
    if stage_id < 0:
        return case.pre_study.get(stage_id)
    return case.stages[stage_id].season_id if stage_id < len(case.stages) else None


def _initial_lags(case: Case, hydro_id: int, n_lags: int) -> tuple[float, ...]:
    if n_lags == 0:
        return ()
    past = case.past_inflows.get(hydro_id)
    if past is None or len(past) < n_lags:
        have = 0 if past is None else len(past)
        raise CaseError(
            INITIAL, f"hydro {hydro_id}", "past_inflows.values_m3s",
            f"needs the last {n_lags} inflows (the hydro's PAR order in {AR_COEFFICIENTS}), got {have}",
        )
    return past[:n_lags]


def check_truncation_is_exact(case: Case, model: InflowModel, noise: list[np.ndarray]) -> None:
    """Refuse ``truncation`` where an inflow with AR lags could actually be truncated.

    Truncation clamps ``base + psi . lags + sigma * eta`` at zero, a function of
    the incoming lag state that no linear program can express; Cobre evaluates
    it outside the LP. caudal accepts the method when clamping provably never
    happens (inflow bounds propagated from the past inflows through every
    stage stay non-negative) and for white-noise plants, whose truncated
    openings are fixed numbers.
    """
    for h, hydro in enumerate(case.hydros):
        n = int(model.n_lags[h])
        if n == 0:
            continue
        lows = list(model.initial_lags[h])  # reachable range of each lag, most recent first
        highs = list(lows)
        for t, stage in enumerate(case.stages):
            eta = noise[t][:, h]
            terms_low = [min(p * lo, p * hi) for p, lo, hi in zip(model.psi[t, h, :n], lows, highs, strict=True)]
            terms_high = [max(p * lo, p * hi) for p, lo, hi in zip(model.psi[t, h, :n], lows, highs, strict=True)]
            raw_low = model.base[t, h] + sum(terms_low) + model.sigma[t, h] * float(eta.min())
            raw_high = model.base[t, h] + sum(terms_high) + model.sigma[t, h] * float(eta.max())
            if raw_low < 0:
                raise unsupported(
                    CONFIG, f"hydro {hydro.id}, stage {stage.id}", "modeling.inflow_non_negativity.method",
                    "clamping at zero ('truncation' methods) inflows that depend on PAR(p) lags and can turn negative "
                    "(use 'penalty')",
                )
            lows = [raw_low] + lows[:-1]
            highs = [max(raw_high, 0.0)] + highs[:-1]
