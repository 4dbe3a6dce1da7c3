"""PAR(p) inflow lags on weekly stages in Cobre's 0.18 format (``lag_accumulation.py`` behind the 0.18 reader).

Every case is built by :func:`build` from ``data/cobre/par-0.18/d16-par1-history``
(Cobre's d16 converted to 0.18, Apache-2.0, see the LICENSE.cobre there): one
plant of productivity 1 without a reservoir (or, in ``*-storage``, with 200 hm3
holding 50), up to 400 m3/s; a 300 MW load; a 200 MW thermal at 50 $/MWh, deficit at 1,000 $/MWh;
monthly seasons, inflow deviations of 1e-10 m3/s (deterministic inflows), the
single opening's noise 0 in ``scenarios/noise_openings.parquet`` (read with
``scenario_source.openings.source: "file"``), and past inflows as history
windows (December 2023 200 m3/s, November 60 m3/s). ``WEEKS_THEN_MONTHS``: the
five weeks of January 2024 (the last crossing into February), February 5 to
March 1, March; ``TEN_WEEKS``: ten weeks from January 1 (seasons 0, 1, 2 by the
month each starts in); ``MID_MONTH``: the study starts on January 15, and
January's lag averages its realized days before the start (``MONTH_SO_FAR``:
observations, history windows, part of them, none) with the study's own.

``COBRE_018`` holds what running Cobre 0.18.0 on each folder gave
(cobre-python 0.18.0, ``cobre.run.run(case, output_dir=..., threads=1)``, 60
iterations, simulation of one scenario): its simulated cost, which is its
upper bound, and the inflow of each stage in its simulation. Its forward pass
and simulation form the lags as caudal does on 0.5.x cases (the
day-weighted monthly average, lag_accumulation.py); its lower bound does not
(34,738,125 on ``weeks-then-months-par1``, above the 26,011,221 its own policy
costs; its cuts treat the lags as if every stage closed a month, as 0.5.1's
did). So with a reservoir Cobre's policy is not optimal for the inflows it
simulates: ``FIXED_INFLOWS_018`` is Cobre 0.18.0's converged bound on the
storage case with those very inflows given as seasonal means and no AR
terms, the optimum caudal must reach.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, SAME, assert_fails_naming, edit

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.lag_accumulation import lag_transitions
from caudal.hydro.cobre.openings import write_noise_openings

BASE = DATA / "par-0.18" / "d16-par1-history"
STAGES, CONFIG = "stages.json", "config.json"
WEEKS_THEN_MONTHS = (("2024-01-01", "2024-01-08", 0), ("2024-01-08", "2024-01-15", 0),
                     ("2024-01-15", "2024-01-22", 0), ("2024-01-22", "2024-01-29", 0),
                     ("2024-01-29", "2024-02-05", 0), ("2024-02-05", "2024-03-01", 1),
                     ("2024-03-01", "2024-04-01", 2))
TEN_WEEKS = tuple((str(np.datetime64("2024-01-01") + 7 * k), str(np.datetime64("2024-01-08") + 7 * k),
                   int(str(np.datetime64("2024-01-01") + 7 * k)[5:7]) - 1) for k in range(10))
MID_MONTH = WEEKS_THEN_MONTHS[2:]
MEANS = (100.0, 110.0, 120.0, 130.0, 140.0, 90.0, 80.0)
TEN_MEANS = (100.0, 110.0, 120.0, 130.0, 140.0, 90.0, 95.0, 85.0, 80.0, 75.0)
VARIANTS = {  # name -> (stages, seasonal means by stage, AR coefficients by lag, (capacity, initial) hm3 or None)
    "weeks-then-months-par1": (WEEKS_THEN_MONTHS, MEANS, (0.5,), None),
    "weeks-then-months-par2": (WEEKS_THEN_MONTHS, MEANS, (0.5, 0.3), None),
    "weeks-then-months-par1-storage": (WEEKS_THEN_MONTHS, MEANS, (0.5,), (200.0, 50.0)),
    "ten-weeks-par1": (TEN_WEEKS, TEN_MEANS, (0.5,), None),
    "mid-month-observed": (MID_MONTH, (100.0, 110.0, 120.0, 90.0, 80.0), (0.5,), None),
    "mid-month-history": (MID_MONTH, (100.0, 110.0, 120.0, 90.0, 80.0), (0.5,), None),
    "mid-month-partly-observed": (MID_MONTH, (100.0, 110.0, 120.0, 90.0, 80.0), (0.5,), None),
    "mid-month-unobserved": (MID_MONTH, (100.0, 110.0, 120.0, 90.0, 80.0), (0.5,), None),
}
# The realized inflow of January 2024 before a mid-month start: (source, start, end, m3/s)
MONTH_SO_FAR = {
    "mid-month-observed": ("observation", "2024-01-01", "2024-01-15", 170.0),
    "mid-month-history": ("history", "2024-01-01", "2024-01-15", 170.0),
    "mid-month-partly-observed": ("observation", "2024-01-08", "2024-01-15", 170.0),
}
# Measured by running Cobre 0.18.0 on each folder (see the module docstring): simulated cost, inflow by stage.
COBRE_018 = {
    "weeks-then-months-par1": (26011221.357063398, (150.0, 160.0, 165.0, 170.0, 175.0, 101.29032258064517,
                                                   90.72858731924362)),
    "weeks-then-months-par2": (20393857.842046726, (138.0, 148.0, 153.0, 155.0, 157.0, 115.66129032258063,
                                                   98.47836484983316)),
    "ten-weeks-par1": (13914380.422691882, (150.0, 160.0, 165.0, 170.0, 175.0, 101.29032258064518,
                                           131.29032258064515, 118.79032258064518, 118.79032258064518,
                                           97.66824249165744)),
    # January's lag: (14 x 170 + 7 x 150 + 7 x 160 + 3 x 165) / 31 = 162.74, February's from it.
    "mid-month-observed": (20847146.829810902, (150.0, 160.0, 165.0, 111.3709677419355, 94.38403781979979)),
    "mid-month-history": (20847146.829810902, (150.0, 160.0, 165.0, 111.3709677419355, 94.38403781979979)),
    # Only January 8 to 14 realized: the lag averages 24 days, (7 x 170 + 1,050 + 1,120 + 495) / 24.
    "mid-month-partly-observed": (21218340.5172414, (150.0, 160.0, 165.0, 110.31249999999999, 93.92780172413791)),
    # Nothing realized: the lag averages the study's 17 January days.
    "mid-month-unobserved": (21895223.123732254, (150.0, 160.0, 165.0, 108.38235294117648, 93.09584178498987)),
}
FIXED_INFLOWS_018 = 18763742.429860335  # Cobre 0.18.0's bound, storage case with its simulated inflows fixed
PAST = (("2023-12-01", "2024-01-01", 200.0), ("2023-11-01", "2023-12-01", 60.0))


def build(folder: Path, name: str, *, fixed_inflows: tuple[float, ...] | None = None) -> Path:
    """The variant ``name`` as a 0.18 case in ``folder`` (or, with ``fixed_inflows``, those inflows without AR)."""
    stages, means, coefficients, storage = VARIANTS[name]
    if fixed_inflows is not None:
        means, coefficients = fixed_inflows, (0.0,)
    shutil.copytree(BASE, folder)
    order, n = len(coefficients), len(stages)
    pre_study = [{"id": -lag, "start_date": PAST[lag - 1][0], "end_date": PAST[lag - 1][1], "season_id": 12 - lag}
                 for lag in range(1, order + 1)]

    def timeline(doc: dict) -> None:
        doc["pre_study_stages"] = pre_study
        doc["stages"] = [{"id": t, "start_date": a, "end_date": b, "season_id": season,
                          "blocks": [{"id": 0, "name": "SINGLE", "hours": 24 * (date.fromisoformat(b)
                                                                                - date.fromisoformat(a)).days}],
                          "state_variables": {"storage": storage is not None, "inflow_lags": True},
                          "num_openings": 1} for t, (a, b, season) in enumerate(stages)]
    edit(folder, STAGES, timeline)
    _write(folder, "inflow_ar_coefficients", hydro_id=[0] * n * order, stage_id=np.repeat(np.arange(n), order),
           lag=np.tile(np.arange(1, order + 1), n), coefficient=list(coefficients) * n,
           residual_std_ratio=[1.0] * n * order)
    _write(folder, "inflow_seasonal_stats", hydro_id=[0] * (n + order), stage_id=np.arange(-order, n),
           mean_m3s=[100.0] * order + list(means), std_m3s=[1e-10] * (n + order))
    _write(folder, "load_seasonal_stats", bus_id=[0] * n, stage_id=np.arange(n), mean_mw=[300.0] * n, std_mw=[0.0] * n)
    source, *so_far = MONTH_SO_FAR.get(name, (None,))
    history = list(PAST[:order]) + ([tuple(so_far)] if source == "history" else [])
    pq.write_table(pa.table({
        "hydro_id": pa.array([0] * len(history), pa.int32()),
        "start_date": pa.array([date.fromisoformat(w[0]) for w in history], pa.date32()),
        "end_date": pa.array([date.fromisoformat(w[1]) for w in history], pa.date32()),
        "value_m3s": [w[2] for w in history]}), folder / "scenarios/inflow_history.parquet", compression="zstd")
    if source == "observation":
        edit(folder, "initial_conditions.json", lambda d: d.update(recent_observations=[
            {"hydro_id": 0, "start_date": so_far[0], "end_date": so_far[1], "value_m3s": so_far[2]}]))
    write_noise_openings(folder / "scenarios/noise_openings.parquet", [np.zeros((1, 1))] * n)

    def plant(doc: dict) -> None:
        hydro = doc["hydros"][0]
        for limits in (hydro["generation"], hydro["unit_groups"][0]):
            limits.update(max_turbined_m3s=400.0, max_generation_mw=400.0)
        hydro["outflow"]["max_outflow_m3s"] = 400.0
        if storage is not None:
            hydro["reservoir"]["max_storage_hm3"] = storage[0]
    edit(folder, "system/hydros.json", plant)
    if storage is not None:
        edit(folder, "initial_conditions.json", lambda d: d.update(storage=[{"hydro_id": 0, "value_hm3": storage[1]}]))

    def settings(doc: dict) -> None:
        doc["training"]["scenario_source"] = {"openings": {"source": "file"}}
        doc["training"]["stopping_rules"] = [{"type": "iteration_limit", "limit": 60}]
        doc["simulation"]["enabled"] = True
    edit(folder, CONFIG, settings)
    return folder


def _write(folder: Path, table: str, **columns) -> None:
    types = {"hydro_id": pa.int32(), "bus_id": pa.int32(), "stage_id": pa.int32(), "lag": pa.int32()}
    pq.write_table(pa.table({k: pa.array(np.asarray(v).tolist(), types.get(k, pa.float64()))
                             for k, v in columns.items()}), folder / "scenarios" / f"{table}.parquet",
                   compression="zstd")


@pytest.mark.parametrize("name", sorted(COBRE_018))
def test_equivalent_and_bound_reach_cobres_simulated_cost(tmp_path: Path, name: str) -> None:
    study = cobre.load_case(build(tmp_path / name, name))
    equivalent = caudal.deterministic_equivalent(study.problem).objective
    bound = caudal.train(study.problem, iterations=10, forward_passes=1, seed=study.training.seed).lower_bound
    assert equivalent == pytest.approx(COBRE_018[name][0], rel=SAME)
    assert bound == pytest.approx(equivalent, rel=SAME)


@pytest.mark.parametrize("name", sorted(COBRE_018))
def test_simulated_inflows_are_cobres(tmp_path: Path, name: str) -> None:
    study = cobre.load_case(build(tmp_path / name, name))
    result = caudal.train(study.problem, iterations=5, forward_passes=1, seed=study.training.seed)
    hydros = cobre.simulate(study, result.policy, scenarios=1)["hydros"]
    assert hydros.column("inflow_m3s").to_pylist() == pytest.approx(COBRE_018[name][1], rel=1e-12)


def test_with_a_reservoir_the_optimum_is_cobres_on_the_same_inflows_fixed(tmp_path: Path) -> None:
    name = "weeks-then-months-par1-storage"
    inflows = COBRE_018["weeks-then-months-par1"][1]  # the reservoir does not change the inflows
    study = cobre.load_case(build(tmp_path / name, name))
    fixed = cobre.load_case(build(tmp_path / "fixed", name, fixed_inflows=inflows))
    assert caudal.deterministic_equivalent(fixed.problem).objective == pytest.approx(FIXED_INFLOWS_018, rel=SAME)
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(FIXED_INFLOWS_018, rel=SAME)
    bound = caudal.train(study.problem, iterations=20, forward_passes=1, seed=study.training.seed).lower_bound
    assert bound == pytest.approx(FIXED_INFLOWS_018, rel=SAME)


def test_the_month_so_far_starts_the_accumulator(tmp_path: Path) -> None:
    study = cobre.load_case(build(tmp_path / "observed", "mid-month-observed"))
    assert study.case.month_so_far == {0: pytest.approx((14 * 170.0 / 31, 14 / 31), rel=1e-15)}
    transitions = lag_transitions(study.case, study.inflows, multi_resolution=True)
    assert [t.total for t in transitions] == pytest.approx([21 / 31, 28 / 31, 1.0, 1.0, 1.0])


def test_plants_realized_over_different_days_are_refused(tmp_path: Path) -> None:
    """One share of the month starts every plant's average: a plant realized over other days cannot share it."""
    study = cobre.load_case(build(tmp_path / "observed", "mid-month-observed"))
    uneven = replace(study.case, month_so_far={0: (10.0, 0.2), 7: (10.0, 0.3)})
    with pytest.raises(CaseError, match="different days of the study's first month"):
        lag_transitions(uneven, study.inflows, multi_resolution=True)


def test_a_month_long_stage_off_the_calendar_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = build(tmp_path / "shifted", "weeks-then-months-par1")
    edit(case, STAGES, lambda d: d["stages"][6].update(start_date="2024-03-01", end_date="2024-04-05"))
    assert_fails_naming(case, capsys, STAGES, "stage 6", "end_date", "not calendar months")


# Measured the same way on each variant with every inflow deviation 10 m3/s and the opening's noise -1 + 0.3 t at
# stage t: Cobre 0.18.0's simulated cost, which the noise's residual std ratios move (format_018/ar_ratios.py).
COBRE_018_NOISY = {
    "weeks-then-months-par1": 20119703.51776216,
    "weeks-then-months-par2": 19215928.296972513,
    "ten-weeks-par1": 13335467.829380423,
}


@pytest.mark.parametrize("name", sorted(COBRE_018_NOISY))
def test_noisy_weekly_stages_reach_cobres_simulated_cost(tmp_path: Path, name: str) -> None:
    """The ratios Cobre 0.18.0 derives from the coefficients hold on weekly stages too (sqrt(0.75) on PAR(1))."""
    folder = build(tmp_path / name, name)
    stats = folder / "scenarios/inflow_seasonal_stats.parquet"
    table = pq.read_table(stats)
    pq.write_table(table.set_column(3, "std_m3s", pa.array([10.0] * table.num_rows)), stats)
    n = len(VARIANTS[name][0])
    noise = [np.full((1, 1), -1.0 + 0.3 * t) for t in range(n)]
    write_noise_openings(folder / "scenarios/noise_openings.parquet", noise)
    study = cobre.load_case(folder)
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(COBRE_018_NOISY[name], rel=SAME)
