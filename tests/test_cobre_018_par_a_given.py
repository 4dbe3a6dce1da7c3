"""A PAR(p)-A model given as files in the 0.18 format (``inflow_annual_component.parquet`` read, not refused).

Each case is ``data/cobre/par-0.18/d12-par-annual`` (Cobre's d12 in the 0.18
format, Apache-2.0, see data/cobre/LICENSE.cobre) with the model Cobre 0.18.0
fitted to its history given as files: the statistics, AR coefficients and
annual component of ``cobre-0.18.0-fits/d12-par-annual``, copied into
``scenarios/`` (with both model files given, Cobre uses them and reads the
history only for the initial lags). ``COBRE_018`` holds Cobre 0.18.0's lower
bound on each (cobre-python 0.18.0, ``cobre.run.run(case, output_dir=...,
threads=1)``, the case's 20 iterations): as given (the estimated model's bound,
16,313,663,168.5248), with every annual coefficient halved, and without the
annual file (classical PAR(p) on the same coefficients). Cobre derives each
season's residual ratio from the PAR(12) the annual term makes, as for a fitted
model (``format_018/ar_ratios.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA

import caudal
from caudal.hydro import cobre

CASE = DATA / "par-0.18" / "d12-par-annual"
FIT = DATA / "cobre-0.18.0-fits" / "d12-par-annual"
ANNUAL = "inflow_annual_component.parquet"
COBRE_018 = {"given": 16313663168.524828, "annual-halved": 16029158104.203533, "no-annual-file": 15423418675.635122}


def given_model(folder: Path, variant: str) -> Path:
    shutil.copytree(CASE, folder)
    for file in FIT.iterdir():
        shutil.copy(file, folder / "scenarios" / file.name)
    path = folder / "scenarios" / ANNUAL
    if variant == "annual-halved":
        table = pq.read_table(path)
        pq.write_table(table.set_column(2, "annual_coefficient", pc.multiply(table["annual_coefficient"], 0.5)), path)
    elif variant == "no-annual-file":
        path.unlink()
    return folder


@pytest.mark.parametrize("variant", sorted(COBRE_018))
def test_the_given_model_reaches_cobre_0180s_bound(tmp_path: Path, variant: str) -> None:
    study = cobre.load_case(given_model(tmp_path / variant, variant))
    equivalent = caudal.deterministic_equivalent(study.problem).objective
    assert equivalent == pytest.approx(COBRE_018[variant], rel=1e-12)
    bound = caudal.train(study.problem, iterations=20, forward_passes=1, seed=study.training.seed).lower_bound
    assert bound == pytest.approx(equivalent, rel=1e-9)


def test_the_given_model_is_the_fitted_one(tmp_path: Path) -> None:
    """Giving Cobre's fit back as files changes nothing: the same problem as estimating it."""
    given = cobre.load_case(given_model(tmp_path / "given", "given"))
    estimated = cobre.load_case(CASE)
    assert caudal.deterministic_equivalent(given.problem).objective == pytest.approx(
        caudal.deterministic_equivalent(estimated.problem).objective, rel=1e-12)
