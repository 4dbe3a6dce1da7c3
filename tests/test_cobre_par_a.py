"""The annual component of PAR(p)-A inflows, given in ``scenarios/inflow_annual_component.parquet``.

No Cobre example gives the annual component as a file (d12 estimates it), so
these tests check the model against the PAR(p)-A equation written out here,
that a zero annual coefficient leaves d16's known cost unchanged although the
plant now keeps twelve lags, that the resulting problem trains to its
deterministic equivalent, and that d12's model as Cobre 0.5.1 exported it
(statistics, AR coefficients and annual component files) reaches the cost
Cobre 0.5.1 reaches on it (see test_cobre_par_a_estimation.py for why that is
not the README's d12 value).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, KNOWN_COSTS, assert_fails_naming

import caudal
from caudal.hydro import cobre

D16 = "d16-par1-lag-shift"
ANNUAL = "scenarios/inflow_annual_component.parquet"
STD = 1e-10  # d16's seasonal deviation: psi_hat = psi_A * STD / sigma_A


def with_annual(tmp_path: Path, coefficient: float, std: float = STD, stages: tuple[int, ...] = (0, 1, 2)) -> Path:
    case = tmp_path / "case"
    shutil.copytree(DATA / "deterministic" / D16, case)
    rows = {
        "hydro_id": pa.array([0] * len(stages), pa.int32()),
        "stage_id": pa.array(list(stages), pa.int32()),
        "annual_coefficient": [coefficient] * len(stages),
        "annual_mean_m3s": [100.0] * len(stages),
        "annual_std_m3s": [std] * len(stages),
    }
    pq.write_table(pa.table(rows), case / ANNUAL)
    return case


def test_inflow_follows_the_par_a_equation(tmp_path: Path) -> None:
    """a[t] = mu + phi (a[t-1] - mu) + psi_A s / sigma_A (mean of the last 12 inflows - mu), d16's mu = 100."""
    study = cobre.load_case(with_annual(tmp_path, 0.3, std=2 * STD))
    model = study.inflows
    assert int(model.n_lags[0]) == 12
    assert model.initial_lags[0] == (200.0,) + (0.0,) * 11  # Cobre starts the lags past_inflows omits at 0
    rng = np.random.default_rng(11)
    for t in range(3):
        lags = rng.uniform(0.0, 300.0, 12)
        expected = 100.0 + 0.5 * (lags[0] - 100.0) + 0.3 * STD / (2 * STD) * (lags.mean() - 100.0)
        assert model.deterministic_part(t, 0, lags) == pytest.approx(expected, rel=1e-12)


def test_zero_annual_coefficient_keeps_d16s_known_cost(tmp_path: Path) -> None:
    study = cobre.load_case(with_annual(tmp_path, 0.0))
    assert int(study.inflows.n_lags[0]) == 12
    objective = caudal.deterministic_equivalent(study.problem).objective
    assert objective == pytest.approx(KNOWN_COSTS[D16], rel=1e-9)


def test_annual_term_changes_the_cost_and_trains_to_the_deterministic_equivalent(tmp_path: Path) -> None:
    study = cobre.load_case(with_annual(tmp_path, 0.2))
    exact = caudal.deterministic_equivalent(study.problem).objective
    assert exact != pytest.approx(KNOWN_COSTS[D16], rel=1e-3)
    result = caudal.train(study.problem, iterations=20, forward_passes=1, seed=study.training.seed)
    assert result.lower_bound == pytest.approx(exact, rel=1e-6)


def test_non_positive_annual_deviation_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = with_annual(tmp_path, 0.2, std=0.0)
    assert_fails_naming(case, capsys, ANNUAL, "hydro 0, stage 0", "annual_std_m3s", "must be positive")


def test_unknown_stage_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = with_annual(tmp_path, 0.2, stages=(0, 7))
    assert_fails_naming(case, capsys, ANNUAL, "hydro 0, stage 7", "hydro_id", "does not have")


def test_d12_model_given_as_files_reaches_cobres_cost(tmp_path: Path) -> None:
    """Cobre 0.5.1 read these files back (history removed) to the same bound as when it fitted them."""
    case = tmp_path / "d12"
    shutil.copytree(DATA / "deterministic" / "d12-par-annual", case)
    (case / "scenarios" / "inflow_history.parquet").unlink()
    for name in ("inflow_seasonal_stats", "inflow_ar_coefficients", "inflow_annual_component"):
        # unchanged, with the pre-study rows Cobre writes (the statistics' are used, the others' are not)
        shutil.copy(DATA / "cobre-0.5.1-fits" / "d12-par-annual" / f"{name}.parquet", case / "scenarios")
    objective = caudal.deterministic_equivalent(cobre.load_case(case).problem).objective
    assert objective == pytest.approx(16_613_296_860.37512, rel=1e-6)  # Cobre 0.5.1, all twelve lags in its cuts
