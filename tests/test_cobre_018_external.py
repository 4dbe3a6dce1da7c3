"""Training's ``external`` and ``out_of_sample`` inflow schemes in Cobre's 0.18 format.

Built on d28 converted to 0.18 (``data/cobre/converted-0.18``, Cobre's
example, Apache-2.0, see data/cobre/LICENSE.cobre) with d28's own
``external_inflow_scenarios.parquet`` (copied unchanged in
``data/cobre/deterministic/d28-decomp-weekly-monthly``) and the scheme set as
the original sets it. Cobre 0.18 fits the backward pass's inflow statistics
to the external scenarios (``format_018/external.py``), so its cost is not
the 0.5.x one; the out-of-sample scheme keeps the tree's cost.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_equivalent_reaches, assert_fails_naming, assert_reaches, edit

import caudal
from caudal.hydro import cobre

D28_018 = DATA / "converted-0.18" / "d28-decomp-weekly-monthly"
EXTERNAL = "scenarios/external_inflow_scenarios.parquet"
EXTERNAL_TABLE = DATA / "deterministic" / "d28-decomp-weekly-monthly" / EXTERNAL
STATS = "scenarios/inflow_seasonal_stats.parquet"
SCHEME = "training.scenario_source.inflow.scheme"
# Measured by running Cobre 0.18.0 (cobre-python 0.18.0, cobre.run.run, 1 thread, 5 iterations) on the
# external variant below: every iteration's lower bound (also with STATS removed, or holding other values).
COBRE_018_EXTERNAL = 684.8652832950687
# Measured the same way on the out_of_sample variant: the in-sample tree's cost.
COBRE_018_OUT_OF_SAMPLE = 780.6803366831955


def with_scheme(tmp_path: Path, scheme: str) -> Path:
    case = tmp_path / f"d28-{scheme}"
    shutil.copytree(D28_018, case)
    if scheme == "external":
        shutil.copyfile(EXTERNAL_TABLE, case / EXTERNAL)
    edit(case, "config.json", lambda c: c["training"]["scenario_source"].update(inflow={"scheme": scheme}))
    return case


def assert_reaches_out_of_sample(study: cobre.CobreStudy, expected: float) -> None:
    """``assert_reaches`` with the forward passes drawn from the scheme's own inflows (two of them)."""
    assert_reaches(study, expected, forward_passes=2, sampling=caudal.OutOfSample(study.forward_inflows))


def test_external_scheme_reaches_cobre_018s_cost(tmp_path: Path) -> None:
    study = cobre.load_case(with_scheme(tmp_path, "external"))
    assert [table["inflow[0]"].tolist() for table in study.forward_inflows] == [
        [45.0], [55.0], [60.0], [50.0], [65.0], [40.0, 50.0, 60.0, 70.0, 80.0]
    ]
    # The tree: a stage of one scenario is that scenario; the monthly one is 60 + sqrt(200) * noise.
    assert study.inflows.base[:, 0].tolist() == [45.0, 55.0, 60.0, 50.0, 65.0, 60.0]
    assert study.inflows.sigma[:, 0].tolist() == pytest.approx([0.0] * 5 + [math.sqrt(200.0)], rel=1e-15)
    assert_reaches_out_of_sample(study, COBRE_018_EXTERNAL)


def test_external_scheme_does_not_read_the_seasonal_statistics(tmp_path: Path) -> None:
    case = with_scheme(tmp_path, "external")
    (case / STATS).write_bytes(b"not parquet")  # Cobre 0.18.0 gives the same cost without the file
    assert_equivalent_reaches(cobre.load_case(case), COBRE_018_EXTERNAL)


def test_out_of_sample_scheme_keeps_the_trees_cost(tmp_path: Path) -> None:
    study = cobre.load_case(with_scheme(tmp_path, "out_of_sample"))
    tree = [60.0 + 15.0 * noise[:, 0] for noise in study.noise]
    forward = [table["inflow[0]"] for table in study.forward_inflows]
    assert not all(np.allclose(f, t) for f, t in zip(forward, tree, strict=True))
    assert_reaches_out_of_sample(study, COBRE_018_OUT_OF_SAMPLE)


def write_external(case: Path, stage: list[int], hydro: list[int]) -> None:
    pq.write_table(pa.table({
        "stage_id": pa.array(stage, pa.int32()), "scenario_id": pa.array([0] * len(stage), pa.int32()),
        "hydro_id": pa.array(hydro, pa.int32()), "value_m3s": pa.array([50.0] * len(stage), pa.float64()),
    }), case / EXTERNAL)


def test_external_scheme_without_the_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = with_scheme(tmp_path, "external")
    (case / EXTERNAL).unlink()
    assert_fails_naming(case, capsys, "config.json", None, SCHEME, "is missing")


def test_table_without_the_external_scheme_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = with_scheme(tmp_path, "in_sample")
    shutil.copyfile(EXTERNAL_TABLE, case / EXTERNAL)
    assert_fails_naming(case, capsys, "config.json", None, SCHEME, EXTERNAL)


def test_a_stage_without_scenarios_is_named_in_the_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = with_scheme(tmp_path, "external")
    write_external(case, [0, 1, 2, 4, 5], [0] * 5)
    assert_fails_naming(case, capsys, EXTERNAL, "hydro 0, stage 3", "scenario_id", "has no scenario")


def test_an_unknown_hydro_is_named_in_the_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = with_scheme(tmp_path, "external")
    write_external(case, [0, 1, 2, 3, 4, 5], [0, 0, 0, 3, 0, 0])
    assert_fails_naming(case, capsys, EXTERNAL, "hydro 3, stage 3, scenario 0", "hydro_id", "not a hydro")


@pytest.mark.parametrize("scheme", ["external", "out_of_sample", "historical"])
def test_simulation_schemes_other_than_in_sample_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, scheme: str
) -> None:
    case = with_scheme(tmp_path, "external")
    config = json.loads((case / "config.json").read_text())
    config["simulation"]["scenario_source"] = {"inflow": {"scheme": scheme}, "openings": {"source": "file"}}
    (case / "config.json").write_text(json.dumps(config))
    assert_fails_naming(case, capsys, "config.json", None, "simulation.scenario_source.inflow.scheme", scheme)


def test_the_historical_training_scheme_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = with_scheme(tmp_path, "historical")
    assert_fails_naming(case, capsys, "config.json", None, SCHEME, "'historical' sampling scheme")
