"""A run folder belongs to one run: a fresh training into an earlier run's folder is refused or, asked, cleared."""

from __future__ import annotations

import json

import pytest

import caudal
from caudal.cli import main
from caudal.examples.brazil4 import brazil4
from caudal.run_folder import RunFolderNotEmpty

TRAIN = ["train", "brazil4", "--stages", "3", "--quiet", "--threads", "1"]


def test_a_fresh_training_into_an_earlier_runs_folder_is_refused_and_overwrite_clears_only_caudals_files(
    tmp_path, capsys
):
    run = tmp_path / "R"
    assert main([*TRAIN, "-n", "3", "-o", str(run)]) == 0
    (run / "notes.txt").write_text("the planner's own notes\n")
    (run / "checkpoints" / "README").write_text("kept\n")
    capsys.readouterr()

    assert main([*TRAIN, "-n", "1", "-o", str(run)]) == 2
    error = capsys.readouterr().err
    assert str(run) in error and "checkpoints/" in error and "summary.json" in error and "--overwrite" in error
    assert json.loads((run / "summary.json").read_text())["iterations"] == 3  # the earlier run is untouched

    assert main([*TRAIN, "-n", "1", "-o", str(run), "--overwrite"]) == 0
    assert json.loads((run / "summary.json").read_text())["iterations"] == 1
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith("checkpoint-"))
    assert checkpoints == ["checkpoint-00000001.caudal"]  # none of the 3-iteration run's are left
    assert (run / "notes.txt").read_text() == "the planner's own notes\n"
    assert (run / "checkpoints" / "README").read_text() == "kept\n"


def test_a_folder_with_only_other_files_is_not_taken(tmp_path, capsys):
    run = tmp_path / "R"
    run.mkdir()
    (run / "study.toml").write_text("iterations = 1\n")
    assert main([*TRAIN, "-n", "1", "-o", str(run)]) == 0


def test_resuming_into_the_runs_own_folder_is_not_refused(tmp_path, capsys):
    run = tmp_path / "R"
    assert main([*TRAIN, "-n", "1", "-o", str(run)]) == 0
    assert main([*TRAIN, "-n", "2", "-o", str(run), "--resume", str(run)]) == 0
    assert json.loads((run / "summary.json").read_text())["iterations"] == 2


def test_resuming_into_another_runs_folder_is_refused_unless_overwrite(tmp_path, capsys):
    """--resume A -o B continues A's run into B: B must not hold a third run's files, which it would mix in."""
    first, other = tmp_path / "A", tmp_path / "B"
    assert main([*TRAIN, "-n", "1", "-o", str(first)]) == 0
    assert main([*TRAIN, "-n", "3", "-o", str(other)]) == 0
    capsys.readouterr()

    assert main([*TRAIN, "-n", "2", "-o", str(other), "--resume", str(first)]) == 2
    assert str(other) in capsys.readouterr().err
    assert json.loads((other / "summary.json").read_text())["iterations"] == 3  # B's own run is untouched

    assert main([*TRAIN, "-n", "2", "-o", str(other), "--resume", str(first), "--overwrite"]) == 0
    assert json.loads((other / "summary.json").read_text())["iterations"] == 2
    assert main([*TRAIN, "-n", "3", "-o", str(tmp_path / "C"), "--resume", str(first / "checkpoints")]) == 0


def test_the_python_api_refuses_likewise_unless_overwrite(tmp_path):
    problem = brazil4(stages=3)
    caudal.train(problem, iterations=1, output=tmp_path, threads=1)
    with pytest.raises(RunFolderNotEmpty, match="--overwrite") as refused:
        caudal.train(problem, iterations=1, output=tmp_path, threads=1)
    assert isinstance(refused.value, ValueError)
    caudal.train(problem, iterations=2, output=tmp_path, threads=1, overwrite=True)
    assert json.loads((tmp_path / "summary.json").read_text())["iterations"] == 2
