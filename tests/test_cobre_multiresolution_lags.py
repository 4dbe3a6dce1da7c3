"""PAR(p) inflow lags on weekly stages followed by monthly ones (``lag_accumulation.py``).

The cases under ``data/cobre/multiresolution-lags/`` are built on Cobre's d16
(Apache-2.0, see the LICENSE.cobre and NOTICE.cobre beside them): five weekly
stages of January 2024 (the last from January 29 to February 5, crossing into
February), then February 5 to March 1 and March; one plant with PAR(1) or
PAR(2) inflows from stage 1 on (stage 0 has none, so no pre-study statistics
are needed), seasonal deviations of 1e-10 m3/s (the inflows are deterministic),
a 300 MW load, a 50 $/MWh thermal; the storage variant gives the plant a 200
hm3 reservoir holding 50. ``scenarios/noise_openings.parquet`` is the tree
Cobre 0.5.1 exported for each (``"exports": {"stochastic": true}``).

``weekly-par1`` is the PAR(1) case with only weekly stages under the same
monthly seasons: ten weeks from January 1 2024 (the fifth crossing into
February, the ninth into March), seasonal means 100, 110, 120, 130, 140, 90,
95, 85, 80, 75 by stage.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from cobre_cases import DATA, SAME, assert_fails_naming, edit

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.lag_accumulation import lag_transitions

CASES = DATA / "multiresolution-lags"
PAR1, PAR2, STORAGE = "weekly-monthly-par1", "weekly-monthly-par2", "weekly-monthly-par1-storage"
WEEKLY = "weekly-par1"

# Measured by running Cobre 0.5.1 on each case (cobre-python 0.5.1, cobre.run.run(case, output_dir=..., threads=1),
# the cases' 30 iterations): its upper bound, which is also the cost of its simulated policy. Its lower bound is
# 22,043,999.99999 on the first two and 21,589,555.5555 on the storage one, above its own policy's cost: Cobre
# 0.5.1's cuts map the lags as if every stage closed a month (the plain shift), only its forward pass accumulates.
COBRE_051_SIMULATED = {
    PAR1: 20138058.954388022,
    PAR2: 19737419.599548865,
    STORAGE: 20028103.942647107,
    # All stages weekly (one length): Cobre 0.5.1's forward pass and simulation still accumulate per month. Its
    # lower bound there is 16,589,999.999998981, the cost of the plain per-week shift (every inflow its mean).
    WEEKLY: 14172348.72079963,
}

MEANS = (100.0, 110.0, 120.0, 130.0, 140.0, 90.0, 80.0)  # the cases' seasonal means, by stage
WEEKLY_MEANS = (100.0, 110.0, 120.0, 130.0, 140.0, 90.0, 95.0, 85.0, 80.0, 75.0)
COEFFICIENTS = {PAR1: ((),) + ((0.5,),) * 6, PAR2: ((), (0.5,)) + ((0.5, 0.3),) * 5, WEEKLY: ((),) + ((0.5,),) * 9}
PAST = {PAR1: (200.0,), PAR2: (200.0, 60.0), WEEKLY: (200.0,)}
LOAD_MW, THERMAL_COST = 300.0, 50.0


@pytest.fixture
def par1(tmp_path: Path) -> Path:
    case = tmp_path / PAR1
    shutil.copytree(CASES / PAR1, case)
    return case


@pytest.mark.parametrize("name", sorted(COBRE_051_SIMULATED))
def test_equivalent_and_bound_reach_cobres_simulated_cost(name: str) -> None:
    study = cobre.load_case(CASES / name)
    equivalent = caudal.deterministic_equivalent(study.problem).objective
    settings = study.training
    bound = caudal.train(study.problem, iterations=settings.iterations, forward_passes=settings.forward_passes,
                         seed=settings.seed).lower_bound
    assert equivalent == pytest.approx(COBRE_051_SIMULATED[name], rel=SAME)
    assert bound == pytest.approx(equivalent, rel=SAME)


@pytest.mark.parametrize("name", [PAR1, PAR2, WEEKLY])
def test_cost_is_the_month_averaged_lag_rule_worked_by_hand(name: str) -> None:
    """Without a reservoir every stage turbines its inflow: the cost is the rule's inflows, priced at 50 $/MWh."""
    stages = json.loads((CASES / name / "stages.json").read_text())["stages"]
    means = WEEKLY_MEANS if name == WEEKLY else MEANS
    expected = sum(THERMAL_COST * s["blocks"][0]["hours"] * (LOAD_MW - a) for s, a in zip(
        stages, _inflows_by_the_rule(stages, COEFFICIENTS[name], PAST[name], means), strict=True))
    study = cobre.load_case(CASES / name)
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(expected, rel=SAME)


def _inflows_by_the_rule(stages: list[dict], coefficients: tuple, past: tuple[float, ...],
                         means: tuple[float, ...]) -> list[float]:
    """Each stage's inflow, the lags being day-weighted averages over the calendar month of each season."""
    lags, total, weight, inflows = list(past), 0.0, 0.0, []
    for t, stage in enumerate(stages):
        phi = coefficients[t]
        inflow = means[t] + sum(p * (lags[lag] - means[t - 1 - lag]) for lag, p in enumerate(phi))
        inflows.append(inflow)
        start, end = date.fromisoformat(stage["start_date"]), date.fromisoformat(stage["end_date"])
        month = date(2024, stage["season_id"] + 1, 1)
        after = date(2024, stage["season_id"] + 2, 1)
        following = date(2024, stage["season_id"] + 3, 1)
        share = (min(end, after) - max(start, month)).days / (after - month).days
        total, weight = total + share * inflow, weight + share
        if all(later["season_id"] != stage["season_id"] for later in stages[t + 1:]):
            lags = [total / weight] + lags[:-1]
            spill = max(0, (min(end, following) - after).days) / (following - after).days
            total, weight = spill * inflow, spill
    return inflows


def test_transitions_weigh_days_and_carry_the_crossing_weeks_february_days() -> None:
    study = cobre.load_case(CASES / PAR1)
    transitions = lag_transitions(study.case, study.inflows, multi_resolution=True)
    assert [t.share for t in transitions] == pytest.approx([7 / 31] * 4 + [3 / 31, 25 / 29, 1.0])
    assert [t.closes for t in transitions] == [False] * 4 + [True] * 3
    assert [t.total for t in transitions] == pytest.approx([7 / 31, 14 / 31, 21 / 31, 28 / 31, 1.0, 1.0, 1.0])
    assert [t.spillover for t in transitions] == pytest.approx([0.0] * 4 + [4 / 29, 0.0, 0.0])


def test_a_horizon_of_only_weeks_accumulates_per_month() -> None:
    """Stages of one length, each shorter than its season's month: the months close in their last weeks."""
    study = cobre.load_case(CASES / WEEKLY)
    transitions = lag_transitions(study.case, study.inflows, multi_resolution=False)
    assert [t.closes for t in transitions] == [False] * 4 + [True] + [False] * 3 + [True, True]
    assert [t.share for t in transitions] == pytest.approx([7 / 31] * 4 + [3 / 31] + [7 / 29] * 3 + [4 / 29, 7 / 31])
    assert [t.spillover for t in transitions] == pytest.approx([0.0] * 4 + [4 / 29] + [0.0] * 3 + [3 / 31, 0.0])
    assert all(names[-1] == "inflow_lag_sum[0]" for names in
               ([s.name for s in stage.states] for stage in study.problem.stages))


def test_one_accumulator_state_per_plant_with_lags() -> None:
    states = [[s.name for s in stage.states] for stage in cobre.load_case(CASES / PAR2).problem.stages]
    assert all(names[-3:] == ["inflow_lag[0,1]", "inflow_lag[0,2]", "inflow_lag_sum[0]"] for names in states)


def test_a_horizon_of_calendar_months_keeps_the_plain_shift() -> None:
    study = cobre.load_case(DATA / "deterministic" / "d16-par1-lag-shift")
    assert not any("inflow_lag_sum" in s.name for stage in study.problem.stages for s in stage.states)


def test_other_season_cycles_are_refused(par1: Path, capsys: pytest.CaptureFixture) -> None:
    edit(par1, "stages.json", lambda c: c["season_definitions"].update(cycle_type="weekly"))
    assert_fails_naming(par1, capsys, "stages.json", None, "season_definitions.cycle_type", "'weekly' season cycle")


def test_monthly_then_quarterly_is_refused(par1: Path, capsys: pytest.CaptureFixture) -> None:
    def quarter(c: dict) -> None:
        c["stages"][6].update(end_date="2024-07-01")
        c["stages"][6]["blocks"][0]["hours"] = 91 * 24.0
    edit(par1, "stages.json", quarter)
    assert_fails_naming(par1, capsys, "stages.json", "stage 6", "end_date", "monthly then quarterly")


def test_recent_observations_stay_refused(par1: Path, capsys: pytest.CaptureFixture) -> None:
    observation = {"hydro_id": 0, "start_date": "2023-12-25", "end_date": "2024-01-01", "value_m3s": 70.0}
    edit(par1, "initial_conditions.json", lambda c: c.update(recent_observations=[observation]))
    assert_fails_naming(par1, capsys, "initial_conditions.json", None, "recent_observations", "mid-season")


def test_truncated_inflows_are_refused(par1: Path, capsys: pytest.CaptureFixture) -> None:
    edit(par1, "config.json", lambda c: c["modeling"]["inflow_non_negativity"].update(method="truncation"))
    assert_fails_naming(par1, capsys, "config.json", None, "modeling.inflow_non_negativity.method",
                        "truncated inflows")


@pytest.mark.mpi
def test_two_ranks_with_two_threads_train_like_one_process(tmp_path: Path) -> None:
    from mpi_helpers import train_ranks

    args = ("--forward-passes", "4", "--iterations", "4", "--seed", "3")
    one = train_ranks(1, 1, str(CASES / STORAGE), tmp_path / "one", *args)
    four = train_ranks(2, 2, str(CASES / STORAGE), tmp_path / "four", *args)
    assert four["policy_digest"] == one["policy_digest"]
    strip_time = [[f for i, f in enumerate(row.split(",")) if i != 5] for row in one["convergence"]]
    assert [[f for i, f in enumerate(row.split(",")) if i != 5] for row in four["convergence"]] == strip_time
