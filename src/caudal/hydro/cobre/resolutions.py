"""Stages of different lengths (weekly then monthly, monthly then quarterly) in a 0.5.x case.

A stage LP does not care how long its stage is: its block hours already turn
flows into volumes and energies. What a change of resolution does change is
the inflow model around it, and caudal accepts a multi-resolution horizon only
where that model needs no mapping across resolutions:

* seasonal statistics and AR coefficients are keyed by stage id in this format,
  so each stage already has its own; but PAR(p) lags that span stages of
  different lengths would need Cobre's aggregation of weekly inflows into the
  monthly lags (and ``recent_observations`` to fill the first month), which
  caudal does not do: inflow lags on such a horizon are refused by name;
* sub-monthly stages of one season share one noise draw in Cobre (a noise
  group); caudal's own opening generator draws each stage independently, so
  such stages are accepted only with the tree read from
  ``scenarios/noise_openings.parquet`` (where the sharing is already written).
"""

from __future__ import annotations

from caudal.hydro.cobre.case import Case
from caudal.hydro.cobre.errors import unsupported
from caudal.hydro.cobre.inflows import InflowModel
from caudal.hydro.cobre.timeline import FILE, MAX_DURATION_SPREAD_DAYS


def check_resolutions(case: Case, inflows: InflowModel, noise_from_file: bool) -> None:
    """Refuse, naming stages.json, a horizon whose mixed stage lengths caudal would model differently from Cobre."""
    stages = case.stages
    days = [stage.days for stage in stages]
    if days and max(days) - min(days) > MAX_DURATION_SPREAD_DAYS and int(inflows.n_lags.max(initial=0)) > 0:
        raise unsupported(
            FILE, None, "stages",
            f"PAR(p) inflow lags across stages of different resolutions ({min(days)} to {max(days)} days long)",
        )
    if noise_from_file:
        return
    months: dict[tuple[int, int, int], int] = {}
    for stage in stages:
        if stage.season_id is None:
            continue
        key = (stage.season_id, stage.start.year, stage.start.month)
        if key in months:
            raise unsupported(
                FILE, None, "stages",
                f"stages {months[key]} and {stage.id} sharing season {stage.season_id} within one month "
                "(noise groups of sub-monthly stages) without scenarios/noise_openings.parquet",
            )
        months[key] = stage.id
