"""PAR(p) inflow models estimated from ``scenarios/inflow_history.parquet``.

d26's known cost (Cobre 0.5.1, on the opening tree it exported) is checked
with the other deterministic cases (``cobre_cases.KNOWN_COSTS``); here the
fitted coefficients are checked against a Yule-Walker fit written out in the
test from the textbook definitions, and bad or unsupported input is refused
by name. PAR(p)-A fits (``"pacf_annual"``) are in test_cobre_par_a_estimation.py.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_fails_naming, edit
from mpi_helpers import train_ranks

from caudal.hydro import cobre
from caudal.hydro.cobre import CaseError, reader
from caudal.hydro.cobre.par_estimation import History, contributions, fit_par

D26 = DATA / "deterministic" / "d26-estimated-par2"
HISTORY = "scenarios/inflow_history.parquet"


def d26_history() -> tuple[np.ndarray, np.ndarray]:
    table = pq.read_table(D26 / HISTORY)
    months = np.array([d.month for d in table.column("date").to_pylist()])
    return table.column("value_m3s").to_numpy(), months - 1  # d26's season ids are month - 1


def textbook_yule_walker(values: np.ndarray, seasons: np.ndarray, season: int, order: int) -> np.ndarray:
    """Periodic Yule-Walker from year-by-season arrays (history starts in January, whole years)."""
    years = values.reshape(-1, 12)
    mean, std = years.mean(axis=0), years.std(axis=0)
    z = ((years - mean) / std).ravel()  # chronological standardised series

    def corr(m: int, k: int) -> float:
        pairs = [z[t] * z[t - k] for t in range(k, z.size) if t % 12 == m]
        return float(np.mean(pairs))

    gamma = np.array([[1.0 if i == j else corr((season - 1 - min(i, j)) % 12, abs(i - j)) for j in range(order)]
                      for i in range(order)])
    rhs = np.array([corr(season, k) for k in range(1, order + 1)])
    return np.linalg.solve(gamma, rhs)


def test_d26_coefficients_match_an_independent_yule_walker_fit() -> None:
    values, seasons = d26_history()
    fits = fit_par(History(values, seasons, 12), max_order=3)
    assert max(len(f.coefficients) for f in fits) == 2  # Cobre's own test: PACF picks order 2
    years = values.reshape(-1, 12)
    np.testing.assert_allclose([f.mean for f in fits], years.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose([f.std for f in fits], years.std(axis=0), rtol=1e-12)
    for m, fit in enumerate(fits):
        assert fit.coefficients, f"season {m} fell back to white noise"
        expected = textbook_yule_walker(values, seasons, m, len(fit.coefficients))
        np.testing.assert_allclose(fit.coefficients, expected, rtol=1e-10, atol=1e-12)


def test_d26_coefficients_are_close_to_least_squares_regression() -> None:
    """Yule-Walker and least squares estimate the same thing; 40 years keep them within a few hundredths."""
    values, seasons = d26_history()
    fits = fit_par(History(values, seasons, 12), max_order=3)
    years = values.reshape(-1, 12)
    z = ((years - years.mean(axis=0)) / years.std(axis=0)).ravel()
    for m, fit in enumerate(fits):
        p = len(fit.coefficients)
        rows = [t for t in range(p, z.size) if t % 12 == m]
        design = np.array([[z[t - k] for k in range(1, p + 1)] for t in rows])
        ols, *_ = np.linalg.lstsq(design, z[rows], rcond=None)
        np.testing.assert_allclose(fit.coefficients, ols, atol=0.12)


@pytest.mark.parametrize("hydro", [0, 1])
def test_history_starting_in_april_matches_cobres_fit(hydro: int) -> None:
    """Cobre 0.5.1 pairs a season's values with the lagged season's by position, as if both began in the
    same year; from April on, January's lag-1 pairs are Januaries with the Decembers a year before the last."""
    folder = DATA / "cobre-0.5.1-fits" / "d12-from-april"
    rows = sorted((r for r in pq.read_table(folder / HISTORY.split("/")[1]).to_pylist() if r["hydro_id"] == hydro),
                  key=lambda r: r["date"])
    history = History(np.array([r["value_m3s"] for r in rows]), np.array([r["date"].month - 1 for r in rows]), 12)
    cobre_ar = pq.read_table(folder / "pacf" / "inflow_ar_coefficients.parquet").to_pylist()
    for season, fit in enumerate(fit_par(history, max_order=6)):
        ar = sorted((r for r in cobre_ar if (r["hydro_id"], r["stage_id"]) == (hydro, season)), key=lambda r: r["lag"])
        assert len(fit.coefficients) == len(ar), f"season {season}"
        np.testing.assert_allclose(fit.coefficients, [r["coefficient"] for r in ar], rtol=1e-10, atol=1e-12)


def test_order_is_the_last_significant_partial_autocorrelation() -> None:
    """An AR(1) history gets order 1 (lag-2 PACF insignificant) and white noise gets order 0."""
    rng = np.random.default_rng(7)
    n_years, n = 200, 2400
    ar1 = np.zeros(n)
    for t in range(1, n):
        ar1[t] = 0.7 * ar1[t - 1] + rng.standard_normal()
    seasons = np.arange(n) % 12
    orders = [len(f.coefficients) for f in fit_par(History(100 + 10 * ar1, seasons, 12), max_order=4)]
    assert orders.count(1) >= 10 and max(orders) <= 2
    noise = 100 + rng.standard_normal(n_years * 12)
    orders = [len(f.coefficients) for f in fit_par(History(noise, seasons, 12), max_order=4)]
    assert orders.count(0) >= 9


def test_negative_contributions_lower_the_order() -> None:
    """A fitted model whose expanded lag weights turn negative is reduced until none is.

    With x[t] = 0.5 x[t-1] - 0.5 x[t-2] the lag-2 PACF is clearly significant,
    but the lag-2 weight 0.5 * 0.5 - 0.5 is negative, so order 2 is refused.
    """
    rng = np.random.default_rng(3)
    n = 12 * 300
    x = np.zeros(n)
    for t in range(2, n):
        x[t] = 0.5 * x[t - 1] - 0.5 * x[t - 2] + rng.standard_normal()
    history = History(50 + 5 * x, np.arange(n) % 12, 12)
    for m in range(12):  # without the contribution check, order 2 would be selected
        assert abs(textbook_yule_walker(history.values, history.seasons, m, 2)[-1]) > 1.96 / np.sqrt(300)
    fits = fit_par(history, max_order=3)
    coefficients = [f.coefficients for f in fits]
    stds = np.array([f.std for f in fits])
    for m, c in enumerate(coefficients):
        assert all(w >= 0 for w in contributions(m, len(c), coefficients, stds))
    assert all(len(c) <= 1 for c in coefficients)  # lag 2 carries the negative weight


def test_constant_season_is_white_noise_without_spread() -> None:
    rng = np.random.default_rng(5)
    values = 100 + 10 * rng.standard_normal(12 * 40)
    values[np.arange(values.size) % 12 == 4] = 42.0
    fits = fit_par(History(values, np.arange(values.size) % 12, 12), max_order=2)
    assert (fits[4].mean, fits[4].std, fits[4].coefficients) == (42.0, 0.0, ())


def test_estimated_model_is_given_to_every_stage_of_its_season() -> None:
    case = reader.read_case(D26)
    stage_ids = [s.id for s in case.stages]
    assert all(case.inflow_stats.get(0, s) is not None for s in [-2, -1, *stage_ids])
    assert case.inflow_stats.get(0, -1) == case.inflow_stats.get(0, 11)  # pre-study December = study December
    assert {len(case.ar_models[0, s].coefficients) for s in stage_ids} == {1, 2}


@pytest.fixture
def d26(tmp_path: Path) -> Path:
    case = tmp_path / "d26"
    shutil.copytree(D26, case)
    return case


def test_pacf_annual_adds_the_annual_term_that_pacf_leaves_out(d26: Path) -> None:
    """The PAR(p)-A fit itself is checked on d12 (test_cobre_par_a_estimation.py)."""
    assert reader.read_case(d26).annual_components == {}
    edit(d26, "config.json", lambda c: c["estimation"].update(order_selection="pacf_annual"))
    case = reader.read_case(d26)
    assert {stage for _, stage in case.annual_components} == {s.id for s in case.stages}
    assert cobre.load_case(d26).inflows.n_lags.tolist() == [12]


def test_unknown_estimation_field_is_refused(d26: Path, capsys: pytest.CaptureFixture) -> None:
    edit(d26, "config.json", lambda c: c["estimation"].update(max_lag=3))
    assert_fails_naming(d26, capsys, "config.json", None, "estimation.max_lag", "not supported")


def test_history_with_a_gap_names_the_dates(d26: Path, capsys: pytest.CaptureFixture) -> None:
    table = pq.read_table(d26 / HISTORY)
    pq.write_table(pa.concat_tables([table.slice(0, 100), table.slice(101)]), d26 / HISTORY)
    assert_fails_naming(d26, capsys, HISTORY, "hydro 0", "date", "has a gap")


def test_too_few_observations_per_season(d26: Path, capsys: pytest.CaptureFixture) -> None:
    edit(d26, "config.json", lambda c: c["estimation"].update(min_observations_per_season=41))
    assert_fails_naming(d26, capsys, HISTORY, "hydro 0", "value_m3s", "min_observations_per_season")


def test_history_with_only_the_statistics_file_is_refused(d26: Path) -> None:
    rows = {"hydro_id": [0], "stage_id": [0], "mean_m3s": [1.0], "std_m3s": [0.0]}
    pq.write_table(pa.table(rows), d26 / "scenarios" / "inflow_seasonal_stats.parquet")
    with pytest.raises(CaseError, match="together with scenarios/inflow_seasonal_stats.parquet") as info:
        cobre.load_case(d26)
    assert info.value.file == HISTORY


@pytest.mark.mpi
@pytest.mark.parametrize("case", [D26, DATA / "deterministic" / "d12-par-annual"], ids=["pacf", "pacf_annual"])
def test_estimated_case_trains_alike_on_two_ranks_of_two_threads(case: Path, tmp_path: Path) -> None:
    """Every rank fits the same model from the same file: cuts and bounds match one process exactly."""
    alone = train_ranks(1, 1, str(case), tmp_path / "alone", "--iterations", "6")
    spread = train_ranks(2, 2, str(case), tmp_path / "spread", "--iterations", "6")
    assert spread["policy_digest"] == alone["policy_digest"]
    assert _without_timings(spread["convergence"]) == _without_timings(alone["convergence"])


def _without_timings(rows: list[str]) -> list[str]:
    return [",".join(row.split(",")[:5] + row.split(",")[6:]) for row in rows]


def test_several_plants_without_an_opening_tree_get_their_estimated_correlation(d26: Path) -> None:
    """Cobre correlates their noise with the residual correlation it estimates (correlation_estimation.py)."""
    (d26 / "scenarios" / "noise_openings.parquet").unlink()
    edit(d26, "system/hydros.json", lambda d: d["hydros"].append(dict(d["hydros"][0], id=1, name="H1")))
    edit(d26, "initial_conditions.json", lambda d: (d["storage"].append(dict(d["storage"][0], hydro_id=1)),
                                                    d["past_inflows"].append(dict(d["past_inflows"][0], hydro_id=1))))
    history = pq.read_table(d26 / HISTORY)
    twin = history.set_column(0, "hydro_id", pa.array([1] * history.num_rows, pa.int32()))
    pq.write_table(pa.concat_tables([history, twin]), d26 / HISTORY)  # the second plant's history is the first's
    study = cobre.load_case(d26)
    (group,) = study.case.correlation.profiles["default"]
    assert group.entities == (("inflow", 0), ("inflow", 1)) and group.matrix[0, 1] == pytest.approx(1.0, abs=1e-12)
    noise = np.concatenate(study.noise)
    assert np.allclose(noise[:, 0], noise[:, 1], atol=1e-9)  # perfectly correlated: one noise for both


def test_a_history_not_starting_in_season_0_warns_that_pairs_span_a_year() -> None:
    """Cobre's pairing by position is followed, and said: from April on, some pairs are a year apart."""
    from datetime import date

    from caudal.hydro.cobre.errors import CaseWarning
    from caudal.hydro.cobre.inflow_history import EstimationSettings, _history

    def rows(first_month: int) -> list[tuple[date, int, float]]:
        months = [(1979 * 12 + first_month - 1 + k) for k in range(36)]
        return [(date(m // 12, m % 12 + 1, 1), m % 12, 100.0 + k) for k, m in enumerate(months)]

    settings = EstimationSettings(min_observations_per_season=2)
    with pytest.warns(CaseWarning, match="starts in season 3"):
        _history(0, rows(4), 12, settings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _history(0, rows(1), 12, settings)
