"""The residual std ratios of PAR(p) models given in a 0.18 case: Cobre 0.18.0 derives them.

A 0.18 ``inflow_ar_coefficients.parquet`` has no ``residual_std_ratio``
column (Cobre 0.18.0's own export has none), and Cobre 0.18.0 ignores one
given there: it gives every season the ratio that keeps the season's variance
that of its statistics under the model's own periodic correlations
(:func:`caudal.hydro.cobre.par_estimation.implied_residual_std_ratios`), the
season's model being the coefficients of its first stage by id (pre-study
stages first; no coefficients if that stage has none; white noise for a
season without stages), and every stage of the season, coefficients or not,
takes that ratio. Measured by running Cobre 0.18.0 on d26 and d12 converted
to 0.18 with their fitted models given as files and one coefficient changed
at a time (``tests/test_cobre_018_ar_ratios.py``): a ratio column of 1.0 or
0.5 left d26's bound unchanged, and only this rule reproduced the eleven
bounds (not the ratios of the file, of the fit, of the first study stage, of
the first stage that has coefficients, nor stage by stage along the
timeline); three weekly-stage cases with noise
(``tests/test_cobre_018_multires_lags.py``) reach Cobre 0.18.0's simulated
costs with it too. The model estimated from history gets its ratios the same way
(:mod:`caudal.hydro.cobre.format_018.estimation`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from caudal.hydro.cobre.case import AnnualComponent, ArModel, SeriesStats
from caudal.hydro.cobre.errors import unsupported
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.inflow_history import monthly_seasons
from caudal.hydro.cobre.par_a_estimation import spread_annual_terms
from caudal.hydro.cobre.par_estimation import implied_residual_std_ratios
from caudal.hydro.cobre.scenarios import AR_COEFFICIENTS


@dataclass(frozen=True)
class GivenAnnual:
    """A given PAR(p)-A annual term (``inflow_annual_component.parquet``) and the statistics it is read with."""

    rows: dict[tuple[int, int], AnnualComponent]  # (hydro id, stage id)
    stats: SeriesStats


def with_implied_ratios(
    files: CaseFiles, ar_models: dict[tuple[int, int], ArModel], stage_seasons: list[tuple[int, int | None]],
    annual: GivenAnnual | None = None,
) -> dict[tuple[int, int], ArModel]:
    """``ar_models`` with Cobre 0.18.0's ratios on every study stage (``stage_seasons``: all stages, any order).

    A plant with a given ``annual`` term has its season's model expanded to the
    PAR(12) the term makes (``psi * s[m - j] / (12 sigma_A)`` on the value ``j``
    months back, :func:`caudal.hydro.cobre.par_a_estimation.expanded_coefficients`),
    as for a model fitted with ``"pacf_annual"``.
    """
    if not any(model.coefficients for model in ar_models.values()) and annual is None:
        return ar_models
    n_seasons, _ = monthly_seasons(files)
    first_stage: dict[int, int] = {}
    for stage_id, season in sorted(stage_seasons):
        if season is not None:
            first_stage.setdefault(season, stage_id)
    out = dict(ar_models)
    hydros = {hydro_id for hydro_id, _ in ar_models} | ({h for h, _ in annual.rows} if annual else set())
    for hydro_id in sorted(hydros):
        seasons = []
        for season in range(n_seasons):
            model = ar_models.get((hydro_id, first_stage[season])) if season in first_stage else None
            seasons.append(model.coefficients if model else ())
        if annual is not None:
            seasons = _with_annual_terms(hydro_id, seasons, first_stage, annual)
        ratios = implied_residual_std_ratios(seasons)
        if ratios is None:
            raise unsupported(AR_COEFFICIENTS, f"hydro {hydro_id}", "coefficient", "coefficients whose implied "
                              "residual variance is not positive (how Cobre 0.18.0 runs them is not measured)")
        for stage_id, season in stage_seasons:
            model = ar_models.get((hydro_id, stage_id))
            if stage_id < 0 or season is None or (model is None and ratios[season] == 1.0):
                continue
            out[hydro_id, stage_id] = dataclasses.replace(model or ArModel(()), residual_std_ratio=ratios[season])
    return out


def _with_annual_terms(
    hydro_id: int, seasons: list[tuple[float, ...]], first_stage: dict[int, int], annual: GivenAnnual
) -> list[tuple[float, ...]]:
    """Each season's coefficients with its first stage's annual term spread over the last twelve values."""
    stages = [first_stage.get(m) for m in range(len(seasons))]
    terms = [None if stage is None else annual.rows.get((hydro_id, stage)) for stage in stages]
    stds = [0.0 if stage is None else annual.stats.std.get((hydro_id, stage), 0.0) for stage in stages]
    return spread_annual_terms(seasons, terms, stds)
