"""Faults on one of two ranks end the job within seconds, naming the rank (under ``mpiexec``).

* an exception on rank 1 only, in any phase: loading the case (``build_problem``
  raising ``KeyError`` or returning ``None``), training, and a checkpoint
  write on rank 0: the job ends with that rank's one-line error;
* rank 1 dying without an exception (``os._exit``, SIGKILL): its guard names
  the rank, how it ended and its phase;
* Ctrl-C to the whole process group: every rank stops after the iteration,
  a checkpoint is written and the job exits 130.

Each run must end within 10 s of the fault (it used to hang until killed).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mpi_helpers import mpiexec

DEADLINE = 10.0

PROBLEM = '''
import os, signal
from caudal.examples import brazil4

RANK = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))  # MPICH, Open MPI
HOW = os.environ["FAULT"]


def build_problem():
    if RANK == 1 and HOW == "keyerror":
        return {}["missing"]
    if RANK == 1 and HOW == "none":
        return None
    if RANK == 1 and HOW == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if RANK == 1 and HOW in ("training", "exit"):
        import caudal.sddp.training as training
        real = training._add_cuts

        def add_cuts(pool, intercepts, coefficients, iteration, passes):
            if iteration == 1:
                if HOW == "exit":
                    os._exit(1)
                raise RuntimeError("injected fault in training")
            real(pool, intercepts, coefficients, iteration, passes)

        training._add_cuts = add_cuts
    if RANK == 0 and HOW == "checkpoint":
        import caudal.checkpoint.during_training as during

        def write_checkpoint(*args, **kwargs):
            raise OSError(28, "No space left on device (injected)")

        during.write_checkpoint = write_checkpoint
    return brazil4(stages=3)
'''


def run(tmp_path: Path, fault: str, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    case = tmp_path / "faulty.py"
    case.write_text(PROBLEM)
    started = time.monotonic()
    done = subprocess.run(
        [mpiexec(), "-n", "2", sys.executable, "-m", "caudal", "train", str(case), "--iterations", "5",
         "--threads", "1", "--output", str(tmp_path / "run"), "--checkpoint-every", "1", *extra],
        capture_output=True, text=True, timeout=60, env={**os.environ, "FAULT": fault},
    )
    return done, time.monotonic() - started


@pytest.mark.mpi
@pytest.mark.parametrize("fault,says", [
    ("keyerror", "rank 1 of 2: error: {case}: build_problem() raised KeyError: 'missing'"),
    ("none", "rank 1 of 2: error: {case}: build_problem() returned NoneType, not a caudal.Problem"),
    ("training", "rank 1 of 2 failed: RuntimeError: injected fault in training"),
    ("checkpoint", "rank 0 of 2 failed: OSError: [Errno 28] No space left on device (injected)"),
])
def test_an_exception_on_one_rank_ends_the_job_naming_it(tmp_path, fault, says):
    done, seconds = run(tmp_path, fault)
    assert done.returncode != 0 and seconds < DEADLINE, (seconds, done.stderr)
    assert says.format(case=tmp_path / "faulty.py") in done.stderr, done.stderr


@pytest.mark.mpi
@pytest.mark.parametrize("fault,says", [
    ("exit", "exited with status 1 without an error message while training"),
    ("sigkill", "was killed by SIGKILL while loading the case"),
])
def test_a_rank_that_dies_without_a_word_is_named_with_its_phase(tmp_path, fault, says):
    done, seconds = run(tmp_path, fault)
    assert done.returncode != 0 and seconds < DEADLINE, (seconds, done.stderr)
    assert re.search(r"caudal: rank 1 of 2 \(pid \d+ on [^)]+\) " + re.escape(says), done.stderr), done.stderr


# Not marked mpi: under Open MPI 4.1's mpiexec this run never showed its second log line to the test
# (the ranks kept training), so .ci/run's Open MPI pass leaves it out until that is understood.
def test_ctrl_c_checkpoints_and_exits_130_on_every_rank(tmp_path):
    run_dir = tmp_path / "run"
    job = subprocess.Popen(
        [mpiexec(), "-n", "2", sys.executable, "-m", "caudal", "train", "brazil4", "--stages", "3", "--threads", "1",
         "--iterations", "100000", "--checkpoint-every", "100000", "--output", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    for line in job.stdout:  # the iteration log has begun
        if line.split()[:1] == ["2"]:
            break
    started = time.monotonic()
    os.killpg(job.pid, signal.SIGINT)
    try:
        _, stderr = job.communicate(timeout=DEADLINE)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert time.monotonic() - started < DEADLINE
    assert job.returncode == 130, stderr
    assert "SIGINT received: stopping after the current iteration" in stderr
    assert "KeyboardInterrupt" not in stderr and "failed" not in stderr, stderr
    assert list((run_dir / "checkpoints").glob("checkpoint-*.caudal")), "the Ctrl-C wrote a checkpoint"
