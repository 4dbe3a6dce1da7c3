"""The correlation between plants estimated with their PAR(p) fits (``correlation_estimation.py``).

``data/cobre/correlation/d26-two-plants`` is d26 with a second plant whose
history follows the first's (see data/cobre/README.md); Cobre 0.5.1 fitted both
plants' models, estimated their correlation and exported it as
``cobre-0.5.1-fits/d26-two-plants/correlation.json`` (cobre-python 0.5.1,
``cobre.run.run(case, output_dir=..., threads=1, skip_simulation=True)``, its
``output/stochastic/``): a pooled ``default`` profile and one per season,
scheduled on every stage (and on the pre-study stages). ``d26-two-plants-018``
is the same case in the 0.18 format, and ``cobre-0.18.0-fits/d26-two-plants``
what Cobre 0.18.0 exported for it (``cobre.run.run(case, output_dir=...,
threads=1)``): the same rule on 0.18.0's fits.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cobre_cases import DATA, edit
from mpi_helpers import train_ranks

from caudal.hydro import cobre
from caudal.hydro.cobre.correlation import FILE
from caudal.hydro.cobre.errors import CaseError

CASE = DATA / "correlation" / "d26-two-plants"
COBRE_EXPORT = DATA / "cobre-0.5.1-fits" / "d26-two-plants" / "correlation.json"
FORMATS = {"0.5.x": (CASE, COBRE_EXPORT),
           "0.18": (DATA / "correlation" / "d26-two-plants-018",
                    DATA / "cobre-0.18.0-fits" / "d26-two-plants" / "correlation.json")}


def exported(export: Path = COBRE_EXPORT) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    doc = json.loads(export.read_text())
    matrices = {name: np.array(profile["correlation_groups"][0]["matrix"]) for name, profile in doc["profiles"].items()}
    return matrices, {entry["stage_id"]: entry["profile_name"] for entry in doc["schedule"]}


@pytest.mark.parametrize("version", sorted(FORMATS))
def test_the_estimate_is_cobres_export(version: str) -> None:
    case, export = FORMATS[version]
    correlation = cobre.load_case(case).case.correlation
    matrices, schedule = exported(export)
    assert sorted(correlation.profiles) == sorted(matrices) and len(matrices) == 13
    for name, matrix in matrices.items():
        (group,) = correlation.profiles[name]
        assert group.entities == (("inflow", 0), ("inflow", 1))
        assert np.abs(group.matrix - matrix).max() < 1e-12, name
    assert correlation.profile_of_stage == {stage: name for stage, name in schedule.items() if stage >= 0}
    assert 0.5 < matrices["default"][0, 1] < 0.7  # the histories do move together


def test_cobres_export_given_as_input_gives_the_same_noise(tmp_path: Path) -> None:
    """Given correlation.json, Cobre keeps it (and does not estimate): its own export reads back to the same tree."""
    case = tmp_path / "given"
    shutil.copytree(CASE, case)
    shutil.copy(COBRE_EXPORT, case / FILE)
    given, estimated = cobre.load_case(case), cobre.load_case(CASE)
    assert all(np.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(given.noise, estimated.noise, strict=True))


def test_the_generated_tree_is_correlated() -> None:
    noise = np.concatenate(cobre.load_case(CASE).noise)
    assert noise.shape == (36, 2)
    assert np.corrcoef(noise.T)[0, 1] > 0.3  # 36 draws of a correlation around 0.6


def test_par_a_with_several_plants_stays_refused(tmp_path: Path) -> None:
    case = tmp_path / "annual"
    shutil.copytree(CASE, case)
    edit(case, "config.json", lambda d: d["estimation"].update(order_selection="pacf_annual"))
    with pytest.raises(CaseError, match="PAR\\(p\\)-A"):
        cobre.load_case(case)


@pytest.mark.mpi
def test_correlated_noise_trains_alike_on_two_ranks_of_two_threads(tmp_path: Path) -> None:
    """Every rank estimates the same correlation and draws the same correlated tree: the same cuts and bounds."""
    alone = train_ranks(1, 1, str(CASE), tmp_path / "alone", "--iterations", "4")
    spread = train_ranks(2, 2, str(CASE), tmp_path / "spread", "--iterations", "4")
    assert spread["policy_digest"] == alone["policy_digest"]
    assert [row.split(",")[:5] for row in spread["convergence"]] == [row.split(",")[:5] for row in alone["convergence"]]
