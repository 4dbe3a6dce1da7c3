"""``hydro_models/fpha_hyperplanes.parquet``: the planes caudal used, readable back as precomputed input.

d07's planes are computed from its geometry (Cobre's example, Apache-2.0,
see data/cobre/LICENSE.cobre); written out and given back as precomputed
planes they must give the same problem, and the 0.18 seasonal FPHA case's
precomputed planes must come out as they went in (kappa folded in).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, KNOWN_COSTS

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.fpha_output import FILE, SCHEMA, fpha_hyperplanes_table, write_fpha_hyperplanes

D07 = "d07-fpha-computed"


def test_computed_planes_written_then_read_back_give_the_same_cost(tmp_path: Path) -> None:
    study = cobre.load_case(DATA / "deterministic" / D07)
    path = write_fpha_hyperplanes(study.case, tmp_path / "run")
    assert path == tmp_path / "run" / FILE
    table = pq.read_table(path)
    assert table.schema == SCHEMA
    assert table.num_rows == sum(len(planes.intercept) for planes in study.case.fpha.values())
    case = tmp_path / "d07-precomputed"
    shutil.copytree(DATA / "deterministic" / D07, case)
    shutil.copyfile(path, case / "system" / "fpha_hyperplanes.parquet")
    models_path = case / "system" / "hydro_production_models.json"
    models = json.loads(models_path.read_text())
    for model in models["production_models"]:
        for stage_range in model["stage_ranges"]:
            stage_range["fpha_config"] = {"source": "precomputed"}
    models_path.write_text(json.dumps(models))
    again = cobre.load_case(case)
    assert again.case.fpha == study.case.fpha
    assert caudal.deterministic_equivalent(again.problem).objective == pytest.approx(KNOWN_COSTS[D07], rel=1e-9)


def test_precomputed_planes_come_out_as_they_went_in(tmp_path: Path) -> None:
    case = DATA / "converted-0.18" / "d05-seasonal-fpha"
    path = write_fpha_hyperplanes(cobre.load_case(case).case, tmp_path)
    written = pq.read_table(path).to_pydict()
    given = pq.read_table(case / "system" / "fpha_hyperplanes.parquet").to_pydict()
    assert written["stage_id"] == given["stage_id"] and written["plane_id"] == given["plane_id"]
    for name in ("gamma_v", "gamma_q", "gamma_s"):
        assert written[name] == given[name]
    assert written["gamma_0"] == [g * k for g, k in zip(given["gamma_0"], given["kappa"], strict=True)]


def test_no_file_without_fpha(tmp_path: Path) -> None:
    assert write_fpha_hyperplanes(cobre.load_case(DATA / "deterministic" / "d02-single-hydro").case, tmp_path) is None
    assert not (tmp_path / FILE).exists()


def test_training_a_case_writes_its_planes_with_the_run(tmp_path: Path) -> None:
    from caudal.cli import main

    output = tmp_path / "run"
    assert main(["train", str(DATA / "deterministic" / D07), "--iterations", "2", "--output", str(output), "-q"]) == 0
    study = cobre.load_case(DATA / "deterministic" / D07)
    assert pq.read_table(output / FILE).equals(fpha_hyperplanes_table(study.case))
