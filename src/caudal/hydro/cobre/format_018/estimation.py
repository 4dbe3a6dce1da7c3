"""Inflow models estimated from a 0.18 case's ``inflow_history.parquet``.

When a 0.18 case gives a history but neither the statistics nor the AR
coefficient file, Cobre 0.18.0 fits them itself, as 0.5.x did, and caudal
fits them with the 0.5.x code (:mod:`caudal.hydro.cobre.inflow_history`). Three
things differ, all passed to it as its ``Rules``:

- the history is a set of windows (``start_date``, ``end_date`` exclusive,
  ``value_m3s``, read by :mod:`caudal.hydro.cobre.format_018.inflow_lags`);
  caudal estimates from windows that are calendar months, each the value of
  its month (Cobre 0.18.0 rejects a history with a missing month, as caudal
  does);
- Cobre 0.18.0 pairs each value with the one ``k`` months before it when it
  correlates seasons (``CHRONOLOGICAL``), where 0.5.1 paired them by position
  in each season's list; the two agree on a history that starts in January;
- Cobre 0.18.0 takes each season's residual std ratio from the final model,
  as the ratio that gives the season unit variance under the model's own
  periodic correlations (``implied_ratios``;
  :func:`caudal.hydro.cobre.par_estimation.implied_residual_std_ratios`),
  where 0.5.1 kept the one of the Yule-Walker system. For PAR(p) the two
  differ only where a safety reduction turned a season to white noise or
  lowered its order; for PAR(p)-A the model is the PAR(12) its annual term
  makes (:func:`caudal.hydro.cobre.par_a_estimation.expanded_coefficients`),
  and every ratio moves by a few percent (up to 4% on d12).

The model then reaches the stage LPs as in 0.5.x: PAR(p)-A through
``Case.annual_components`` (``par_a.py``), with twelve lags whose initial
values are the realized inflows of the twelve months before the study
(:mod:`caudal.hydro.cobre.format_018.inflow_lags`). Lag months need a
pre-study stage only when a stage's AR term reads them; the others take their
season's statistics.

What was measured (running Cobre 0.18.0 on d26 and d12 converted to 0.18, with
``"exports": {"stochastic": true}``; ``tests/test_cobre_018_estimation.py``):
the seasonal statistics, the AR coefficients and PAR(p)-A's annual term equal
caudal's fit to ~1e-15, including with ``max_order`` 1 and
``max_coefficient_magnitude`` 0.9, and for histories starting in February or
April; the costs on the same openings equal Cobre's to ~1e-15 (which pins the
ratios, which 0.18.0 does not export: on d12 the ratios that reproduce the
inflows of Cobre's simulation equal the implied ones to 3e-14); the annual
deviation divides by ``N`` like 0.5.1 (the 0.18 schema calls it
Bessel-corrected, which 0.18.0 does not do); the recent observations of
``initial_conditions.json`` seed the lags but do not enter the fit; and, as in
0.5.1, ``min_observations_per_season`` above a season's count does not stop
Cobre from fitting it (caudal refuses such a case, as for 0.5.x).

Refused by name, besides what the 0.5.x estimation refuses: windows that are
not calendar months; estimation with training's ``external`` inflow scheme
(0.18 then fits the statistics to the external scenarios); a model whose
implied residual variance is not positive; and an annual lag month without
realized inflow (Cobre 0.18.0 runs such a case, with values caudal has not
pinned down).
"""

from __future__ import annotations

from datetime import date

from caudal.hydro.cobre.case import StageSpec
from caudal.hydro.cobre.errors import unsupported
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.format_018.config import ORDER_SELECTIONS
from caudal.hydro.cobre.format_018.inflow_lags import read_history_windows
from caudal.hydro.cobre.inflow_history import (
    HISTORY,
    EstimatedInflows,
    Rules,
    Series,
    estimate_inflows,
    season_of,
)
from caudal.hydro.cobre.par_estimation import CHRONOLOGICAL
from caudal.hydro.cobre.timeline import month_start


def estimate_inflows_018(
    files: CaseFiles, stages: tuple[StageSpec, ...], pre_study: dict[int, int | None], hydro_ids: list[int],
    *, external_scheme: bool,
) -> EstimatedInflows | None:
    """The fitted model of a 0.18 case; ``None`` when it gives its model (or has no history).

    Its annual terms are for ``Case.annual_components``, the reader's to set.
    """
    estimated = estimate_inflows(files, stages, pre_study, hydro_ids, RULES_018)
    if estimated is None:
        return None
    if external_scheme:
        raise unsupported(HISTORY, None, None, "estimating the inflow model from history with training's "
                          "external inflow scheme in the 0.18 format")
    return estimated


def _monthly_windows(
    files: CaseFiles, stages: tuple[StageSpec, ...], month_season: dict[int, int], hydro_ids: list[int]
) -> Series:
    """Each plant's windows as (month, season, value) rows; every window must be one calendar month."""
    windows = read_history_windows(files, date.min, set(hydro_ids))
    series: Series = {}
    for hydro_id, rows in sorted(windows.items()):
        for window in sorted(rows, key=lambda w: w.start):
            if window.start.day != 1 or window.end != month_start(window.start, 1):
                raise unsupported(HISTORY, f"hydro {hydro_id}", "end_date",
                                  f"estimating the inflow model from a window that is not a calendar month "
                                  f"({window.start} to {window.end}) in the 0.18 format")
            series.setdefault(hydro_id, []).append(
                (window.start, season_of(window.start, stages, month_season), window.value))
    return series


RULES_018 = Rules(read_series=_monthly_windows, pairing=CHRONOLOGICAL, order_selections=ORDER_SELECTIONS,
                  date_field="start_date", implied_ratios=True)
"""Cobre 0.18.0's estimation, as measured (see the module docstring)."""
