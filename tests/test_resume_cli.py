"""Stop and resume from the command line, as a cluster job would.

* k iterations, then ``--resume`` to 2k, equals 2k straight: same cuts (policy
  digest) and bounds, whatever the layouts of the two runs.
* SIGTERM / SIGUSR1 stop the run, write a checkpoint of the last complete iteration and exit with 75
  on every rank; the run then resumes.
* A checkpoint of another case is refused with a clear message.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mpi_helpers import mpiexec, train_ranks

from caudal.profiling.launch import launch_environment

CASE = ["brazil4", "--stages", "5", "--forward-passes", "4"]


def bounds(summary: dict) -> list[str]:
    """Convergence rows without the time column."""
    return [",".join(row.split(",")[:5] + row.split(",")[6:]) for row in summary["convergence"]]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    return train_ranks(1, 1, CASE[0], tmp_path_factory.mktemp("straight"), *CASE[1:], "--iterations", "6")


@pytest.mark.parametrize("first,second", [((1, 1), (1, 1)), ((2, 2), (1, 2)), ((1, 1), (2, 2))])
@pytest.mark.mpi
def test_resume_is_bit_identical_to_a_run_that_never_stopped(straight, tmp_path, first, second):
    run = tmp_path / "run"
    train_ranks(*first, CASE[0], run, *CASE[1:], "--iterations", "3")
    resumed = train_ranks(*second, CASE[0], run, *CASE[1:], "--iterations", "6", "--resume", str(run))
    assert resumed["policy_digest"] == straight["policy_digest"]
    assert bounds(resumed) == bounds(straight)
    assert resumed["iterations"] == 6


@pytest.mark.mpi
def test_resume_check_can_fail(straight, tmp_path):
    """A resume with another seed is refused; a fresh run with another seed differs."""
    run = tmp_path / "run"
    train_ranks(1, 1, CASE[0], run, *CASE[1:], "--iterations", "3")
    refused = subprocess.run(
        [sys.executable, "-m", "caudal", "train", *CASE, "--iterations", "6", "--seed", "9", "--resume", str(run)],
        capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode == 2  # no checkpoint of this run to resume from: a bad --resume, as for inspect
    assert "fingerprint" in refused.stderr and "seed" in refused.stderr
    other = train_ranks(1, 1, CASE[0], tmp_path / "other", *CASE[1:], "--iterations", "6", "--seed", "9")
    assert other["policy_digest"] != straight["policy_digest"]


@pytest.mark.mpi
def test_resume_of_another_case_is_refused(tmp_path):
    run = tmp_path / "run"
    train_ranks(1, 1, CASE[0], run, *CASE[1:], "--iterations", "2")
    done = subprocess.run(
        [sys.executable, "-m", "caudal", "train", "brazil4", "--stages", "4", "--forward-passes", "4",
         "--iterations", "4", "--resume", str(run)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "checkpoint-00000002.caudal" in done.stderr
    assert "case fingerprint mismatch" in done.stderr


@pytest.mark.parametrize("ranks,signum", [(1, signal.SIGTERM), (2, signal.SIGUSR1)])
@pytest.mark.mpi
def test_walltime_signal_checkpoints_and_exits_75_then_resumes(tmp_path, ranks, signum):
    run = tmp_path / "run"
    command = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "caudal", "train", "brazil4", "--stages", "24",
               "--forward-passes", "2", "--iterations", "100000", "--checkpoint-every", "100000",
               "--output", str(run), "--threads", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=launch_environment())
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(line.startswith("     3 ") for line in lines):
            time.sleep(0.2)
        _signal_ranks(process, ranks, signum)
        process.wait(timeout=60)
        reader.join(timeout=10)
        err = process.stderr.read()
    finally:
        process.kill()
    out = "".join(lines)
    assert process.returncode == 75, out + err
    checkpoints = sorted((run / "checkpoints").glob("checkpoint-*.caudal"))
    assert checkpoints, out + err
    stopped_at = json.loads((run / "summary.json").read_text())["iterations"]
    assert checkpoints[-1].name == f"checkpoint-{stopped_at:08d}.caudal"
    resumed = train_ranks(1, 1, "brazil4", run, "--stages", "24", "--forward-passes", "2",
                          "--iterations", str(stopped_at + 1), "--resume", str(run))
    assert resumed["iterations"] == stopped_at + 1


def _signal_ranks(process: subprocess.Popen, ranks: int, signum: int) -> None:
    """Send the signal to the ranks, as slurm does (mpiexec forwards SIGTERM/SIGUSR1 too)."""
    import psutil

    children = psutil.Process(process.pid).children(recursive=True)
    targets = [c for c in children if "caudal" in " ".join(c.cmdline())] or [psutil.Process(process.pid)]
    for child in targets:
        child.send_signal(signum)
    assert len(targets) >= ranks or targets[0].pid == process.pid


@pytest.mark.mpi
def test_checkpoint_inspect_and_export(tmp_path):
    run = tmp_path / "run"
    train_ranks(1, 1, CASE[0], run, *CASE[1:], "--iterations", "2")
    inspect = subprocess.run([sys.executable, "-m", "caudal", "checkpoint", "inspect", str(run)],
                             capture_output=True, text=True, timeout=60)
    assert inspect.returncode == 0, inspect.stderr
    assert "verified: yes" in inspect.stdout and "iterations completed: 2" in inspect.stdout
    table = tmp_path / "cuts.parquet"
    export = subprocess.run([sys.executable, "-m", "caudal", "checkpoint", "export", str(run), "-o", str(table)],
                            capture_output=True, text=True, timeout=60)
    assert export.returncode == 0, export.stderr
    import pyarrow.parquet as pq

    cuts = pq.read_table(table)
    assert cuts.num_rows == 2 * 4 * 4  # iterations x forward passes x (stages - 1)
    assert Path(table).stat().st_size > 0
