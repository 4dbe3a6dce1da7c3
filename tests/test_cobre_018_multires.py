"""Stages of different lengths (five weekly stages, then a monthly one) in Cobre's 0.18 format.

``data/cobre/converted-0.18/d28-decomp-weekly-monthly`` is Cobre's d28
(Apache-2.0, see data/cobre/LICENSE.cobre) converted to 0.18 by hand, trained
in-sample on the opening tree Cobre exported for it (the conversion is listed
in data/cobre/README.md). Cobre 0.18.0 gives it the cost Cobre 0.5.1 gives
the original: the 0.18 reader must read the mixed resolutions as the 0.5.x
one does, with the same checks (``resolutions.py``), and check the
``recent_observations`` it sets aside.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from cobre_cases import DATA, assert_fails_naming, edit

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.formats import FORMAT_018, case_format

D28_018 = DATA / "converted-0.18" / "d28-decomp-weekly-monthly"
# Measured by running Cobre 0.18.0 (cobre-python 0.18.0, cobre.run.run, 1 thread) on D28_018: the lower bound
# of every one of its 5 iterations. Cobre 0.5.1 gives the 0.5.x original 780.6803366831955.
COBRE_018_COST = 780.6803366831954
TOLERANCE = 1e-9
INITIAL = "initial_conditions.json"


@pytest.fixture
def d28(tmp_path: Path) -> Path:
    case = tmp_path / "d28"
    shutil.copytree(D28_018, case)
    return case


def test_weekly_then_monthly_stages_reach_cobre_018s_cost() -> None:
    assert case_format(D28_018) == FORMAT_018
    study = cobre.load_case(D28_018)
    assert study.noise_source == "file"
    assert [stage.days for stage in study.case.stages] == [7, 7, 7, 7, 7, 31]
    equivalent = caudal.deterministic_equivalent(study.problem).objective
    settings = study.training
    trained = caudal.train(study.problem, iterations=settings.iterations, forward_passes=settings.forward_passes,
                           seed=settings.seed)
    assert equivalent == pytest.approx(COBRE_018_COST, rel=TOLERANCE)
    assert trained.lower_bound == pytest.approx(equivalent, rel=TOLERANCE)


def test_the_conversion_has_the_originals_problem() -> None:
    original = cobre.load_case(DATA / "deterministic" / "d28-decomp-weekly-monthly")
    converted = cobre.load_case(D28_018)
    assert converted.case.stages == original.case.stages
    assert [n.tolist() for n in converted.noise] == [n.tolist() for n in original.noise]
    assert caudal.deterministic_equivalent(converted.problem).objective == pytest.approx(
        caudal.deterministic_equivalent(original.problem).objective, rel=1e-12)


def test_weekly_stages_of_one_season_share_caudals_own_openings(d28: Path) -> None:
    """As in the tree Cobre exported for d28: its five weeks (season 3 of 2026) repeat one opening."""
    (d28 / "scenarios" / "noise_openings.parquet").unlink()
    edit(d28, "config.json", lambda c: c["training"]["scenario_source"].pop("openings"))
    noise = cobre.load_case(d28).noise
    assert all(np.array_equal(noise[t], noise[0]) for t in range(1, 5))
    assert noise[5].shape[0] == 5 and not np.array_equal(noise[5][:1], noise[0])


def test_recent_observations_are_checked(d28: Path, capsys: pytest.CaptureFixture) -> None:
    observation = {"hydro_id": 0, "start_date": "2026-03-28", "end_date": "2026-04-04", "value_m3s": 50.0}
    edit(d28, INITIAL, lambda c: c.update(recent_observations=[observation, dict(observation, hydro_id=4)]))
    assert_fails_naming(d28, capsys, INITIAL, "hydro 4", "hydro_id", "hydro 4, which is not defined")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"end_date": "2026-03-20"}, "end_date", "must be after start_date"),
        ({"start_date": "2026-02-30"}, "start_date", "ISO date"),
        ({"value_m3s": "fifty"}, "value_m3s", "number"),
        ({"weight": 1.0}, "weight", "not supported"),
    ],
)
def test_a_bad_recent_observation_names_its_field(
    d28: Path, capsys: pytest.CaptureFixture, change: dict, field: str, words: str
) -> None:
    edit(d28, INITIAL, lambda c: c["recent_observations"][0].update(change))
    assert_fails_naming(d28, capsys, INITIAL, "hydro 0", field, words)
