"""Stages of different lengths (weekly then monthly) in a 0.5.x case.

A stage LP does not care how long its stage is: its block hours already turn
flows into volumes and energies. What a change of resolution does change is
the inflow model around it:

* seasonal statistics and AR coefficients are keyed by stage id in this format,
  so each stage already has its own;
* PAR(p) lags are inflows of calendar months: on a horizon of stages of
  different lengths, or of stages shorter than their season's month (only
  weekly stages under monthly seasons), they are accumulated over the stages
  of each month
  (``lag_accumulation.py``, which also names what stays refused: other season
  cycles, monthly then quarterly stages, ``recent_observations``). Truncating
  inflows and the annual term of PAR(p)-A are refused there, their checks and
  lags assuming the plain per-stage shift;
* sub-monthly stages of one season share their openings in Cobre (a noise
  group): caudal's own tree does too (``openings.noise_groups``). Cobre also
  gives them one forward draw; caudal's forward passes draw each stage's
  opening on its own, which is what the backward pass (each stage's openings
  independent) assumes, so its bound is the tree's.
"""

from __future__ import annotations

from caudal.hydro.cobre.case import Case
from caudal.hydro.cobre.errors import unsupported
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.inflows import InflowModel
from caudal.hydro.cobre.lag_accumulation import FEATURE, LagTransition, lag_transitions
from caudal.hydro.cobre.par_a import ANNUAL
from caudal.hydro.cobre.timeline import FILE, MAX_DURATION_SPREAD_DAYS

CONFIG = "config.json"


def check_resolutions(case: Case, inflows: InflowModel) -> tuple[LagTransition, ...] | None:
    """The lag transitions of a horizon with inflow lags and sub-monthly stages (else ``None``: the plain shift).

    Refuses, naming the file and field, what caudal would model differently from Cobre.
    """
    stages = case.stages
    days = [stage.days for stage in stages]
    transitions = lag_transitions(case, inflows, bool(days) and max(days) - min(days) > MAX_DURATION_SPREAD_DAYS)
    if transitions is not None:
        if case.settings.inflow_method in ("truncation", "truncation_with_penalty"):
            raise unsupported(CONFIG, None, "modeling.inflow_non_negativity.method",
                              f"{FEATURE} with truncated inflows")
        if case.annual_components or CaseFiles(case.root).exists(ANNUAL):
            raise unsupported(FILE, None, "stages", f"{FEATURE} with the annual term of PAR(p)-A")
    return transitions
