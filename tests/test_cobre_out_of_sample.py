"""Training's ``out_of_sample`` inflow scheme: forward passes on noise drawn apart from the opening tree.

On d26 (PAR(2), Cobre's exported tree) the bound stays Cobre's known cost
(cuts are built on the tree) while the forward passes run on other inflows:
the base-plus-sigma-times-noise of an independent stream (checked here
against a draw of our own from that stream).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, KNOWN_COSTS, SAME, assert_fails_naming

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.out_of_sample import FORWARD_NOISE

D26 = "d26-estimated-par2"


def out_of_sample_copy(tmp_path: Path) -> Path:
    case = tmp_path / "d26"
    shutil.copytree(DATA / "deterministic" / D26, case)
    config = json.loads((case / "config.json").read_text())
    config["training"]["scenario_source"] = {"inflow": {"scheme": "out_of_sample"}}
    (case / "config.json").write_text(json.dumps(config))
    return case


def train(study: cobre.CobreStudy, sampling: caudal.SamplingScheme | None) -> caudal.TrainingResult:
    return caudal.train(study.problem, iterations=study.training.iterations, forward_passes=2, seed=3,
                        sampling=sampling)


def test_forward_passes_draw_apart_from_the_tree_and_the_bound_stays(tmp_path: Path) -> None:
    study = cobre.load_case(out_of_sample_copy(tmp_path))
    for t, table in enumerate(study.forward_inflows):
        z = np.random.default_rng(np.random.SeedSequence([study.training.seed, FORWARD_NOISE, t])).standard_normal()
        expected = study.inflows.base[t, 0] + study.inflows.sigma[t, 0] * z
        assert table["inflow[0]"].tolist() == pytest.approx([expected], rel=1e-14)
        assert z != pytest.approx(study.noise[t][0, 0])  # not the tree's draw
    out = train(study, caudal.OutOfSample(study.forward_inflows))
    tree = train(study, None)
    assert out.lower_bound == pytest.approx(KNOWN_COSTS[D26], rel=SAME)
    assert tree.lower_bound == pytest.approx(KNOWN_COSTS[D26], rel=SAME)
    assert out.history[-1].upper_bound_mean != pytest.approx(tree.history[-1].upper_bound_mean, rel=1e-3)


def test_random_loads_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = out_of_sample_copy(tmp_path)
    path = case / "scenarios" / "load_seasonal_stats.parquet"
    table = pq.read_table(path)
    index = table.column_names.index("std_mw")
    table = table.set_column(index, "std_mw", pa.array(np.full(table.num_rows, 5.0)))
    pq.write_table(table, path)
    (case / "scenarios" / "noise_openings.parquet").unlink()  # its tree has no column for the loads
    assert_fails_naming(case, capsys, "config.json", None, "training.scenario_source.inflow.scheme", "random loads")
