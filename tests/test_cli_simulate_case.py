"""``caudal simulate --policy R`` takes the case and its horizon from the checkpoint; a mismatch is a usage error."""

from __future__ import annotations

import json

import pytest

from caudal.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    assert main(["train", "brazil4", "--stages", "3", "-n", "1", "--quiet", "--threads", "1", "-o", str(folder)]) == 0
    return folder


def simulate(run, out, *extra):
    return main(["simulate", *extra, "--policy", str(run), "-n", "3", "--threads", "1", "-o", str(out)])


def test_no_case_nor_stages_needed(run, tmp_path, capsys):
    assert simulate(run, tmp_path / "sim") == 0
    summary = json.loads((tmp_path / "sim" / "simulation_summary.json").read_text())
    assert summary["scenarios"] == 3
    assert main(["plot", "fan", str(tmp_path / "sim"), "--column", "stage_cost", "-o", str(tmp_path / "f.png")]) == 0


def test_the_same_stages_given_again_are_accepted(run, tmp_path, capsys):
    assert simulate(run, tmp_path / "sim", "brazil4", "--stages", "3") == 0


def test_other_stages_are_a_usage_error(run, tmp_path, capsys):
    assert simulate(run, tmp_path / "sim", "--stages", "5") == 2
    error = capsys.readouterr().err
    assert "--stages 5" in error and "trained on 3 stages" in error
    assert not (tmp_path / "sim").exists()


def test_another_case_is_a_usage_error(run, tmp_path, capsys):
    assert simulate(run, tmp_path / "sim", "national") == 2
    assert "does not fit --policy" in capsys.readouterr().err
