"""Per-stage productivity from ``system/hydro_production_models.json``, in both formats.

d24 (Cobre's example of a productivity override: 0.8 MW per m3/s in the first
stage, 1.2 after) must reproduce its known cost as a deterministic equivalent
and as a trained bound; the same plant in the 0.18 format (d02 converted by
Cobre, with d24's statistics and the two ranges) must give the same cost.
Cobre 0.18.0 itself (cobre-python 0.18.0, ``cobre.run.run`` with simulation
off) reads that 0.18 case and gives 2,660,555.5555555555 = 23,945,000/9.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cobre_cases import DATA, assert_fails_naming, assert_known_cost

from caudal.hydro import cobre

D24 = "d24-productivity-override"
MODELS = "system/hydro_production_models.json"


def test_d24_reproduces_its_known_cost() -> None:
    study = cobre.load_case(DATA / "deterministic" / D24)
    assert study.case.productivity_overrides == {(0, 0): 0.8, (0, 1): 1.2}
    assert [layout.productivity.tolist() for layout in study.layouts] == [[0.8], [1.2]]
    assert_known_cost(study, D24)


def d24_in_018(tmp_path: Path) -> Path:
    case = tmp_path / "d24-018"
    shutil.copytree(DATA / "cases-0.18" / "deterministic" / "d02-single-hydro", case)
    for name in ("inflow_seasonal_stats.parquet", "load_seasonal_stats.parquet"):
        shutil.copy(DATA / "deterministic" / D24 / "scenarios" / name, case / "scenarios" / name)
    ranges = [
        {"start_stage_id": 0, "end_stage_id": 0, "model": "constant_productivity", "productivity_mw_per_m3s": 0.8},
        {"start_stage_id": 1, "end_stage_id": None, "model": "constant_productivity", "productivity_mw_per_m3s": 1.2},
    ]
    models = {"production_models": [{"hydro_id": 0, "selection_mode": "stage_ranges", "stage_ranges": ranges}]}
    (case / MODELS).write_text(json.dumps(models))
    return case


def test_d24_in_the_018_format_has_the_same_cost(tmp_path: Path) -> None:
    study = cobre.load_case(d24_in_018(tmp_path))
    assert [layout.productivity.tolist() for layout in study.layouts] == [[0.8], [1.2]]
    assert_known_cost(study, D24)


def edit_models(case: Path, change) -> None:
    data = json.loads((case / MODELS).read_text())
    change(data["production_models"][0])
    (case / MODELS).write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "entity", "field", "words"),
    [
        (lambda m: m.update(hydro_id=4), "hydro 4", "hydro_id", "hydro 4, which is not defined"),  # dangling id
        (lambda m: m["stage_ranges"][1].update(start_stage_id=2), "hydro 0",
         "stage_ranges[1].start_stage_id", "expected 1"),  # a gap in the stages
        (lambda m: m["stage_ranges"][1].update(end_stage_id=5), "hydro 0", "stage_ranges[1].end_stage_id",
         "past the study's last stage"),  # more stages than the study has
        (lambda m: m["stage_ranges"].pop(), "hydro 0", "stage_ranges", "the study has 2"),  # fewer
        (lambda m: m["stage_ranges"][0].pop("model"), "hydro 0", "stage_ranges[0].model", "required"),
        (lambda m: m["stage_ranges"][0].update(productivity_override=-0.5), "hydro 0",
         "stage_ranges[0].productivity_override", "must be positive"),
        (lambda m: m["stage_ranges"][0].update(model="linearized_head"), "hydro 0", "stage_ranges[0].model",
         "not supported"),
        (lambda m: m["stage_ranges"][0].update(model="fpha"), "hydro 0", "stage_ranges[0].fpha_config",
         "required"),
    ],
)
def test_bad_production_models_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, change, entity: str, field: str, words: str
) -> None:
    case = tmp_path / D24
    shutil.copytree(DATA / "deterministic" / D24, case)
    edit_models(case, change)
    assert_fails_naming(case, capsys, MODELS, entity, field, words)
