"""What the commands print and write: the named format, no BrokenPipe noise, warnings, plurals, no NaN interval."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.csv as pa_csv
import pytest

from caudal.cli import main
from caudal.parallel.comm import cores_available

TRAIN = ["train", "brazil4", "--stages", "3", "--threads", "1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    assert main([*TRAIN, "-n", "2", "-m", "1", "--quiet", "-o", str(folder)]) == 0
    return folder


def test_export_writes_json_for_a_json_name(run, tmp_path, capsys):
    assert main(["checkpoint", "export", str(run), "-o", str(tmp_path / "cuts.json")]) == 0
    cuts = json.loads((tmp_path / "cuts.json").read_text())
    assert main(["checkpoint", "export", str(run), "-o", str(tmp_path / "cuts.csv")]) == 0
    table = pa_csv.read_csv(tmp_path / "cuts.csv")
    assert list(cuts) == table.column_names
    assert cuts["intercept"] == pytest.approx(table.column("intercept").to_pylist())


def test_export_refuses_an_unknown_extension(run, tmp_path, capsys):
    assert main(["checkpoint", "export", str(run), "-o", str(tmp_path / "cuts.xlsx")]) == 2
    assert ".json" in capsys.readouterr().err
    assert not (tmp_path / "cuts.xlsx").exists()


def test_inspect_into_a_closed_pipe_prints_no_error(run):
    process = subprocess.Popen([sys.executable, "-m", "caudal", "checkpoint", "inspect", str(run)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `| head` does once it has its lines: the command's writes fail with EPIPE
    error = process.stderr.read().decode()
    process.wait(timeout=60)
    assert "Broken" not in error and "Traceback" not in error, error


def test_inspect_says_no_interval_for_few_forward_passes_and_counts_in_the_singular(run, capsys):
    assert main(["checkpoint", "inspect", str(run)]) == 0
    text = capsys.readouterr().out
    assert "nan" not in text and "no interval" in text
    assert "1 rank x 1 thread" in text


def test_the_log_counts_in_the_singular(tmp_path, capsys):
    assert main([*TRAIN, "-n", "1", "-m", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 rank x 1 thread = 1 worker;" in out
    assert "1 forward pass per iteration" in out and "after 1 iteration in" in out


def test_more_threads_than_cores_is_warned(capsys):
    assert main([*TRAIN, "-n", "1", "--quiet", "--threads", str(cores_available() + 1)]) == 0
    assert f"warning: --threads {cores_available() + 1}" in capsys.readouterr().err


@pytest.mark.parametrize("extra,hinted", [((), True), (("--opening-chunk", "auto"), False), (("-m", "2"), False)])
def test_the_log_says_how_to_keep_threads_busy_when_a_rank_has_fewer_passes_than_threads(capsys, extra, hinted):
    assert main(["train", "brazil4", "--stages", "3", "--threads", "2", "-n", "1", "-m", "1", *extra]) == 0
    out = capsys.readouterr().out
    assert ("hint: 1 forward pass per rank for 2 threads" in out and "--opening-chunk auto" in out) == hinted
    assert ("openings split: auto" in out) == ("auto" in extra)
