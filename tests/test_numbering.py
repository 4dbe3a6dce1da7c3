"""One numbering for what users see: iterations and stages count from 1 everywhere (issue 20)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from problems import first_steps

import caudal
from caudal.checkpoint import load_latest
from caudal.checkpoint.during_training import checkpoint_directory
from caudal.checkpoint.tools import cuts_table
from caudal.cli import main

ITERATIONS = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    result = caudal.train(first_steps(), iterations=ITERATIONS, forward_passes=2, threads=1, output=output,
                          profile=False)
    return output, result


def _cuts(output):
    checkpoint, _ = load_latest(checkpoint_directory(output))
    return cuts_table(checkpoint)


def test_cut_export_iterations_are_convergence_csv_iterations(run):
    output, _ = run
    with open(output / "convergence.csv", newline="", encoding="utf-8") as handle:
        logged = {int(row["iteration"]) for row in csv.DictReader(handle)}
    assert set(_cuts(output)["iteration"].to_pylist()) == logged == set(range(1, ITERATIONS + 1))


def test_cut_export_and_simulation_count_stages_from_1(run, tmp_path):
    output, result = run
    stages = result.policy.problem.n_stages
    assert set(_cuts(output)["stage"].to_pylist()) == set(range(1, stages))  # the last stage has no cuts
    simulated = caudal.simulate(result, scenarios=3, threads=1, output=tmp_path)
    assert np.unique(simulated.table()["stage"].to_numpy()).tolist() == list(range(1, stages + 1))


def test_warm_start_cuts_come_before_iteration_1(run):
    _, result = run
    warm = caudal.train(first_steps(), iterations=1, forward_passes=2, threads=1, warm_start=result, log=False)
    iterations = np.concatenate([pool.iteration for pool in warm.policy.cut_pools])
    assert set(iterations.tolist()) == {0, 1}


def test_plot_cuts_takes_a_stage_counted_from_1(run, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    output, result = run
    stages = result.policy.problem.n_stages
    out = tmp_path / "cuts.png"
    assert main(["plot", "cuts", str(output), "--stage", str(stages - 1), "--state", "volume", "-o", str(out)]) == 0
    assert out.is_file()
    assert main(["plot", "cuts", str(output), "--stage", str(stages), "--state", "volume"]) == 2
    assert f"--stage must be 1..{stages - 1}" in capsys.readouterr().err


def test_simulation_scenarios_count_from_1_like_stages(tmp_path):
    import pyarrow.dataset as ds

    import caudal

    result = caudal.train(caudal.examples.brazil4(stages=3), iterations=2, forward_passes=2)
    caudal.simulate(result.policy, scenarios=5, output=tmp_path)
    table = ds.dataset(tmp_path / "simulation", partitioning="hive").to_table()
    assert sorted(set(table["scenario"].to_pylist())) == [1, 2, 3, 4, 5]
