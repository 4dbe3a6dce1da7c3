"""0.18's ``seasonal`` production models: each stage takes the model of its season.

Two small cases in ``data/cobre/converted-0.18`` (derived from Cobre's d02 in
the 0.18 format, Apache-2.0, see data/cobre/LICENSE.cobre; listed in
data/cobre/README.md): two monthly stages labelled seasons 0 and 1, one plant
whose model is given per season. ``d02-seasonal-productivity``: a constant
productivity of 1.0, then 1.2. ``d05-seasonal-fpha``: a constant productivity
of 1.0, then two precomputed FPHA planes (``system/fpha_hyperplanes.parquet``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cobre_cases import DATA, assert_fails_naming, edit

import caudal
from caudal.hydro import cobre

CONVERTED = DATA / "converted-0.18"
MODELS = "system/hydro_production_models.json"
TOLERANCE = 1e-9
# Measured by running Cobre 0.18.0 (cobre-python 0.18.0, cobre.run.run, 1 thread, the cases' 10 iterations).
# For the FPHA case Cobre 0.18.0 also wants the productivity of the FPHA stage, which it reads from
# system/hydro_energy_productivity.parquet, which the case holds (hydro 0, stage 1: equivalent productivity 1.2,
# reference outflow 25, specific productivity 0.01); the planes, not that productivity, bound the generation.
COBRE_018_COSTS = {
    "d02-seasonal-productivity": 2_321_944.444444444,
    "d05-seasonal-fpha": 2_280_975.3689762494,
}


def load(name: str | Path) -> cobre.CobreStudy:
    return cobre.load_case(CONVERTED / name)


@pytest.mark.parametrize("name", sorted(COBRE_018_COSTS))
def test_seasonal_models_reach_cobre_018s_cost(name: str) -> None:
    study = load(name)
    settings = study.training
    equivalent = caudal.deterministic_equivalent(study.problem).objective
    trained = caudal.train(study.problem, iterations=settings.iterations, forward_passes=settings.forward_passes,
                           seed=settings.seed)
    assert equivalent == pytest.approx(COBRE_018_COSTS[name], rel=TOLERANCE)
    assert trained.lower_bound == pytest.approx(equivalent, rel=TOLERANCE)


def as_stage_ranges(models: dict) -> None:
    seasons = models["production_models"][0].pop("seasons")
    models["production_models"][0].pop("default_model")
    models["production_models"][0]["selection_mode"] = "stage_ranges"
    models["production_models"][0]["stage_ranges"] = [
        {"start_stage_id": i, "end_stage_id": i, **{k: v for k, v in season.items() if k != "season_id"}}
        for i, season in enumerate(seasons)
    ]


@pytest.mark.parametrize("name", sorted(COBRE_018_COSTS))
def test_seasons_give_the_stage_ranges_of_their_stages(tmp_path: Path, name: str) -> None:
    case = tmp_path / name
    shutil.copytree(CONVERTED / name, case)
    edit(case, MODELS, as_stage_ranges)
    ranges = cobre.load_case(case)
    seasonal = load(name)
    assert seasonal.case.productivity_overrides == ranges.case.productivity_overrides
    assert seasonal.case.fpha == ranges.case.fpha
    assert caudal.deterministic_equivalent(seasonal.problem).objective == pytest.approx(
        caudal.deterministic_equivalent(ranges.problem).objective, rel=1e-12)


@pytest.fixture
def seasonal(tmp_path: Path) -> Path:
    case = tmp_path / "seasonal"
    shutil.copytree(CONVERTED / "d02-seasonal-productivity", case)
    return case


def test_a_stage_left_to_the_default_model_needs_the_productivity_file(seasonal: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    # Cobre 0.18.0 takes its productivity from system/hydro_energy_productivity.parquet, absent here
    # (test_cobre_018_energy_productivity.py gives it).
    edit(seasonal, MODELS, lambda d: d["production_models"][0]["seasons"].pop())
    assert_fails_naming(seasonal, capsys, MODELS, "hydro 0", "default_model", "stage 1 (season 1")


def test_a_default_fpha_model_is_refused(seasonal: Path, capsys: pytest.CaptureFixture) -> None:
    # A default model names no fpha_config, so nothing says where its planes come from.
    def change(data: dict) -> None:
        data["production_models"][0]["seasons"].pop()
        data["production_models"][0]["default_model"] = "fpha"
    edit(seasonal, MODELS, change)
    assert_fails_naming(seasonal, capsys, MODELS, "hydro 0", "default_model", "'fpha' for stage 1")


def test_a_season_listed_twice(seasonal: Path, capsys: pytest.CaptureFixture) -> None:
    edit(seasonal, MODELS, lambda d: d["production_models"][0]["seasons"][1].update(season_id=0))
    assert_fails_naming(seasonal, capsys, MODELS, "hydro 0", "seasons[1].season_id", "listed twice")


def test_a_linearized_head_season_is_constant_productivity(seasonal: Path) -> None:
    constant = load("d02-seasonal-productivity")
    edit(seasonal, MODELS, lambda d: d["production_models"][0]["seasons"][0].update(model="linearized_head"))
    linearized = cobre.load_case(seasonal)
    assert linearized.case.productivity_overrides == constant.case.productivity_overrides
    assert linearized.case.hydros == constant.case.hydros


def test_a_season_without_its_productivity(seasonal: Path, capsys: pytest.CaptureFixture) -> None:
    edit(seasonal, MODELS, lambda d: d["production_models"][0]["seasons"][1].pop("productivity_mw_per_m3s"))
    assert_fails_naming(seasonal, capsys, MODELS, "hydro 0", "seasons[1].productivity_mw_per_m3s", "required")


def test_an_unknown_default_model(seasonal: Path, capsys: pytest.CaptureFixture) -> None:
    edit(seasonal, MODELS, lambda d: d["production_models"][0].update(default_model="hydraulic"))
    assert_fails_naming(seasonal, capsys, MODELS, "hydro 0", "default_model", "hydraulic")
