"""Inflow models estimated from history in Cobre's 0.18 format, against Cobre 0.18.0's own fits and costs.

``data/cobre/par-0.18/d26-estimated-par2`` and ``d12-par-annual`` are Cobre's
d26 (PAR(2) from 40 years) and d12 (PAR(p)-A from 30 years of two plants)
converted to 0.18 the way ``data/cobre/README.md`` describes for d28 (with
``"exports": {"stochastic": true}``), their histories rewritten as one window
per calendar month, and ``past_inflows`` (lag 1 first) as one
``recent_observations`` window per lag month (d12: the last given value
repeated for lags 3 to 12).

Every number below was measured by running Cobre 0.18.0 (cobre-python 0.18.0,
``cobre.run.run(case, output_dir=out, threads=1)``) on the case, or on the case
with the change a test makes; its lower bound equals its upper bound on these
single-opening cases. ``data/cobre/cobre-0.18.0-fits/<name>/`` holds, unchanged,
the ``inflow_seasonal_stats.parquet``, ``inflow_ar_coefficients.parquet`` and
``inflow_annual_component.parquet`` (when not empty) those runs wrote to
``out/stochastic/``. ``d12-from-april`` is d12 with the history of
``data/cobre/cobre-0.5.1-fits/d12-from-april`` (as windows), ``pacf`` and
``pacf_annual``. Cobre 0.18.0 exports no residual std ratio; the costs pin it.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_fails_naming, edit

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.formats import FORMAT_018, case_format
from caudal.hydro.cobre.par_a_estimation import fit_par_annual
from caudal.hydro.cobre.par_estimation import (
    BY_POSITION,
    CHRONOLOGICAL,
    History,
    fit_par,
    implied_residual_std_ratios,
)

D26 = DATA / "par-0.18" / "d26-estimated-par2"
D12 = DATA / "par-0.18" / "d12-par-annual"
FITS = DATA / "cobre-0.18.0-fits"
FROM_APRIL = DATA / "cobre-0.5.1-fits" / "d12-from-april" / "inflow_history.parquet"
HISTORY = "scenarios/inflow_history.parquet"
STATS = "scenarios/inflow_seasonal_stats.parquet"

COBRE_018_BOUND = {
    "d26-estimated-par2": 50_607_484.90581009,  # Cobre 0.5.1's known cost of d26 is 50,607,484.90581006
    "d26-max-coefficient-0.9": 55_006_982.40417342,  # estimation.max_coefficient_magnitude = 0.9
    "d26-from-february": 52_536_974.99258228,  # the history's first window (January 1981) removed
    "d26-max-order-1": 36_034_098.24324269,  # estimation.max_order = 1 (no export kept)
}
"""Cobre 0.18.0's lower bounds (see the module docstring)."""
FIT_TOLERANCE = 1e-12


def _drop_first_window(case: Path) -> None:
    pq.write_table(pq.read_table(case / HISTORY).slice(1), case / HISTORY)


VARIANTS = {
    "d26-estimated-par2": lambda case: None,
    "d26-max-coefficient-0.9": lambda case: edit(
        case, "config.json", lambda c: c["estimation"].update(max_coefficient_magnitude=0.9)),
    "d26-from-february": _drop_first_window,
    "d26-max-order-1": lambda case: edit(case, "config.json", lambda c: c["estimation"].update(max_order=1)),
}


@pytest.fixture
def d26(tmp_path: Path) -> Path:
    case = tmp_path / "d26"
    shutil.copytree(D26, case)
    return case


def _variant(d26: Path, name: str) -> Path:
    VARIANTS[name](d26)
    return d26


def _rows(folder: Path, name: str) -> list[dict]:
    return pq.read_table(folder / f"{name}.parquet").to_pylist()


@pytest.mark.parametrize("name", ["d26-estimated-par2", "d26-max-coefficient-0.9", "d26-from-february"])
def test_the_fit_equals_cobre_018s_export(d26: Path, name: str) -> None:
    case = cobre.load_case(_variant(d26, name)).case
    assert case_format(d26) == FORMAT_018
    for row in _rows(FITS / name, "inflow_seasonal_stats"):
        mean, std = case.inflow_stats.get(row["hydro_id"], row["stage_id"])
        assert (mean, std) == pytest.approx((row["mean_m3s"], row["std_m3s"]), rel=FIT_TOLERANCE)
    exported: dict[int, list[float]] = {}
    for row in sorted(_rows(FITS / name, "inflow_ar_coefficients"), key=lambda r: (r["stage_id"], r["lag"])):
        exported.setdefault(row["stage_id"], []).append(row["coefficient"])
    for stage in case.stages:
        model = case.ar_models.get((0, stage.id))
        mine = model.coefficients if model else ()
        assert len(mine) == len(exported.get(stage.id, [])), f"stage {stage.id}"
        np.testing.assert_allclose(mine, exported.get(stage.id, []), rtol=FIT_TOLERANCE, atol=FIT_TOLERANCE)


@pytest.mark.parametrize("name", sorted(COBRE_018_BOUND))
def test_the_cost_equals_cobre_018s(d26: Path, name: str) -> None:
    study = cobre.load_case(_variant(d26, name))
    assert study.case.past_inflows == {0: (180.0,) if name == "d26-max-order-1" else (180.0, 200.0)}
    objective = caudal.deterministic_equivalent(study.problem).objective
    assert objective == pytest.approx(COBRE_018_BOUND[name], rel=1e-12)


def test_training_reaches_cobre_018s_bound() -> None:
    study = cobre.load_case(D26)
    result = caudal.train(study.problem, iterations=30, forward_passes=1, seed=study.training.seed)
    assert result.lower_bound == pytest.approx(COBRE_018_BOUND["d26-estimated-par2"], rel=1e-9)


def _history(values: list[tuple[date, float]]) -> History:
    values = sorted(values)
    return History(np.array([v for _, v in values]), np.array([d.month - 1 for d, _ in values]), 12)


def _d26_history(drop_first: bool = False) -> History:
    rows = pq.read_table(D26 / HISTORY).to_pylist()[int(drop_first):]
    return _history([(r["start_date"], r["value_m3s"]) for r in rows])


def test_the_ratios_come_from_the_final_coefficients() -> None:
    """Unreduced, they are the fit's; a season reduced to white noise changes its neighbours' (measured cost)."""
    fits = fit_par(_d26_history(), 3)
    implied = implied_residual_std_ratios([f.coefficients for f in fits])
    np.testing.assert_allclose(implied, [f.residual_std_ratio for f in fits], rtol=1e-12)
    reduced = fit_par(_d26_history(), 3, 0.9)
    implied = implied_residual_std_ratios([f.coefficients for f in reduced])
    june = 5  # order 2 on May and April, both reduced to white noise
    assert not reduced[4].coefficients and not reduced[3].coefficients
    phi = reduced[june].coefficients
    assert implied[june] == pytest.approx(np.sqrt(1.0 - phi[0] ** 2 - phi[1] ** 2), rel=1e-12)
    assert abs(implied[june] - reduced[june].residual_std_ratio) > 0.1


def test_cobre_018_pairs_lags_chronologically() -> None:
    """A history starting in February: 0.18.0's fit is the chronological one, not 0.5.1's pairs by position."""
    exported = {r["stage_id"]: [] for r in _rows(FITS / "d26-from-february", "inflow_ar_coefficients")}
    for row in sorted(_rows(FITS / "d26-from-february", "inflow_ar_coefficients"), key=lambda r: r["lag"]):
        exported[row["stage_id"]].append(row["coefficient"])
    chronological = fit_par(_d26_history(drop_first=True), 3, pairing=CHRONOLOGICAL)
    by_position = fit_par(_d26_history(drop_first=True), 3, pairing=BY_POSITION)
    for season in range(12):
        np.testing.assert_allclose(chronological[season].coefficients, exported[season], rtol=FIT_TOLERANCE)
    assert len(by_position[1].coefficients) != len(exported[1])


def _windows_history(path: Path, hydro: int, column: str) -> History:
    rows = [r for r in pq.read_table(path).to_pylist() if r["hydro_id"] == hydro]
    return _history([(r[column], r["value_m3s"]) for r in rows])


@pytest.mark.parametrize(("folder", "history", "annual"), [
    ("d12-par-annual", None, True),
    ("d12-from-april/pacf", FROM_APRIL, False),
    ("d12-from-april/pacf_annual", FROM_APRIL, True),
])
@pytest.mark.parametrize("hydro", [0, 1])
def test_d12_fits_equal_cobre_018s_export(folder: str, history: Path | None, annual: bool, hydro: int) -> None:
    series = _windows_history(D12 / HISTORY, hydro, "start_date") if history is None else \
        _windows_history(history, hydro, "date")
    if annual:
        fits = fit_par_annual(series, 6, pairing=CHRONOLOGICAL)
    else:
        fits = [(fit, None) for fit in fit_par(series, 6, pairing=CHRONOLOGICAL)]
    rows = {name: [r for r in _rows(FITS / folder, name) if r["hydro_id"] == hydro and r["stage_id"] >= 0]
            for name in ("inflow_seasonal_stats", "inflow_ar_coefficients")}
    for row in rows["inflow_seasonal_stats"]:
        fit = fits[row["stage_id"] % 12][0]
        assert (fit.mean, fit.std) == pytest.approx((row["mean_m3s"], row["std_m3s"]), rel=FIT_TOLERANCE)
    for row in rows["inflow_ar_coefficients"]:
        coefficients = fits[row["stage_id"] % 12][0].coefficients
        assert coefficients[row["lag"] - 1] == pytest.approx(row["coefficient"], rel=1e-10, abs=FIT_TOLERANCE)
    assert sum(len(fits[s][0].coefficients) for s in range(12)) == len(
        [r for r in rows["inflow_ar_coefficients"] if r["stage_id"] < 12])
    if annual:
        for row in _rows(FITS / folder, "inflow_annual_component"):
            if row["hydro_id"] == hydro:
                term = fits[row["stage_id"] % 12][1]
                assert term.coefficient == pytest.approx(row["annual_coefficient"], rel=1e-10, abs=FIT_TOLERANCE)
                # The 0.18 schema calls the annual deviation Bessel-corrected; 0.18.0 divides by N.
                assert (term.mean, term.std) == pytest.approx(
                    (row["annual_mean_m3s"], row["annual_std_m3s"]), rel=FIT_TOLERANCE)


@pytest.fixture
def d12(tmp_path: Path) -> Path:
    case = tmp_path / "d12"
    shutil.copytree(D12, case)
    return case


def _from_april(case: Path, order_selection: str) -> None:
    rows = pq.read_table(FROM_APRIL).to_pylist()
    starts = [r["date"] for r in rows]
    pq.write_table(pa.table({
        "hydro_id": pa.array([r["hydro_id"] for r in rows], pa.int32()),
        "start_date": pa.array(starts, pa.date32()),
        "end_date": pa.array([date(d.year + d.month // 12, d.month % 12 + 1, 1) for d in starts], pa.date32()),
        "value_m3s": pa.array([r["value_m3s"] for r in rows]),
    }), case / HISTORY)
    edit(case, "config.json", lambda c: c["estimation"].update(order_selection=order_selection))


def _observe_august(case: Path) -> None:
    """Hydro 0's lag-5 month, which only the annual term reads."""
    edit(case, "initial_conditions.json", lambda c: [o.update(value_m3s=100.0) for o in c["recent_observations"]
                                                     if o["hydro_id"] == 0 and o["start_date"] == "2023-08-01"])


D12_VARIANTS = {
    "d12-par-annual": (lambda case: None, 16_313_663_168.524828),
    "d12-lag-5-at-100": (_observe_august, 16_368_085_777.081589),
    # order 3 on May with two pre-study stages: the lag-3 month seeds the state, no stage reads its statistics
    "d12-from-april-pacf": (lambda case: _from_april(case, "pacf"), 16_050_922_810.17327),
    "d12-from-april-pacf_annual": (lambda case: _from_april(case, "pacf_annual"), 16_538_589_584.998278),
}
"""d12 variants and Cobre 0.18.0's lower bounds (measured as the module docstring says)."""


@pytest.mark.parametrize("name", sorted(D12_VARIANTS))
def test_d12_costs_equal_cobre_018s(d12: Path, name: str) -> None:
    """The residual ratios are implied by the PAR(12) the annual term makes (the fit's miss by ~1e-3)."""
    change, bound = D12_VARIANTS[name]
    change(d12)
    study = cobre.load_case(d12)
    assert {len(lags) for lags in study.case.past_inflows.values()} == ({3, 1} if name.endswith("-pacf") else {12})
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(bound, rel=1e-12)


def test_d12_trains_to_cobre_018s_bound() -> None:
    """Cobre 0.18.0's bound equals its upper bound here, unlike 0.5.1's (test_cobre_par_a_estimation.py)."""
    study = cobre.load_case(D12)
    result = caudal.train(study.problem, iterations=20, forward_passes=1, seed=study.training.seed)
    assert result.lower_bound == pytest.approx(D12_VARIANTS["d12-par-annual"][1], rel=1e-9)


def test_annual_lag_months_must_be_observed(d12: Path, capsys: pytest.CaptureFixture) -> None:
    """Cobre 0.18.0 runs d12 with only lags 1 and 2 observed (16,600,569,457.53); caudal refuses it."""
    edit(d12, "initial_conditions.json", lambda c: c.update(recent_observations=[
        o for o in c["recent_observations"] if o["start_date"] >= "2023-11-01"]))
    assert_fails_naming(d12, capsys, HISTORY, "hydro 0", "start_date", "annual term without realized inflow")


def test_a_window_that_is_not_a_calendar_month_is_refused(d26: Path, capsys: pytest.CaptureFixture) -> None:
    table = pq.read_table(d26 / HISTORY)
    ends = table.column("end_date").to_pylist()
    ends[5] = table.column("start_date")[5].as_py() + timedelta(days=20)
    pq.write_table(table.set_column(2, "end_date", pa.array(ends, pa.date32())), d26 / HISTORY)
    assert_fails_naming(d26, capsys, HISTORY, "hydro 0", "end_date", "not a calendar month")


def test_a_missing_month_is_an_error(d26: Path, capsys: pytest.CaptureFixture) -> None:
    """Cobre 0.18.0 rejects it too ("has no observations for season 4 year 1989")."""
    table = pq.read_table(d26 / HISTORY)
    pq.write_table(pa.concat_tables([table.slice(0, 100), table.slice(101)]), d26 / HISTORY)
    assert_fails_naming(d26, capsys, HISTORY, "hydro 0", "start_date", "has a gap")


def test_too_few_observations_per_season_is_an_error(d26: Path, capsys: pytest.CaptureFixture) -> None:
    """As for 0.5.x; Cobre 0.18.0 fits such a season all the same (measured: 41 gives d26's bound)."""
    edit(d26, "config.json", lambda c: c["estimation"].update(min_observations_per_season=41))
    assert_fails_naming(d26, capsys, HISTORY, "hydro 0", "value_m3s", "min_observations_per_season")


def test_0_5_only_order_selection_is_an_error(d26: Path) -> None:
    edit(d26, "config.json", lambda c: c["estimation"].update(order_selection="fixed"))
    with pytest.raises(CaseError, match="order_selection"):
        cobre.load_case(d26)


def test_history_with_only_the_statistics_file_is_refused(d26: Path) -> None:
    shutil.copy(FITS / "d26-estimated-par2" / "inflow_seasonal_stats.parquet", d26 / STATS)
    with pytest.raises(CaseError, match="together with scenarios/inflow_seasonal_stats.parquet") as info:
        cobre.load_case(d26)
    assert (info.value.file, info.value.field) == (HISTORY, None)


def test_recent_observations_seed_the_lags_but_not_the_fit(d26: Path) -> None:
    """Measured: observations of 1000 m3/s leave Cobre 0.18.0's exported coefficients unchanged."""
    before = cobre.load_case(d26).case
    edit(d26, "initial_conditions.json",
         lambda c: [o.update(value_m3s=1000.0) for o in c["recent_observations"]])
    after = cobre.load_case(d26).case
    assert after.past_inflows == {0: (1000.0, 1000.0)}
    assert after.ar_models == before.ar_models


def test_estimation_with_external_training_inflows_is_refused(d26: Path) -> None:
    """0.18 fits the statistics to the external scenarios then; caudal has not measured that with a history."""
    edit(d26, "config.json", lambda c: c["training"]["scenario_source"].update(inflow={"scheme": "external"}))
    with pytest.raises(CaseError, match="external inflow scheme") as info:
        cobre.load_case(d26)
    assert (info.value.file, info.value.field) == (HISTORY, None)
