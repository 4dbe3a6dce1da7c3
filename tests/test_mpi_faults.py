"""Faults on one of two ranks end the job within seconds, naming the rank (under ``mpiexec``).

* an exception on rank 1 only, in any phase: loading the case (``build_problem``
  raising ``KeyError`` or returning ``None``), training, and a checkpoint
  write on rank 0: the job ends with that rank's one-line error;
* rank 1 dying without an exception (``os._exit``, SIGKILL): its guard names
  the rank, how it ended and its phase;
* Ctrl-C to mpiexec's process group in the middle of an iteration: every rank
  stops within seconds, the unfinished iteration is dropped, a checkpoint of
  the last complete one is written and (MPICH) the job exits 130.

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


def open_mpi() -> bool:
    """Whether the tests' ``mpiexec`` is Open MPI's (CI runs the mpi tests under MPICH, then Open MPI)."""
    version = subprocess.run([mpiexec(), "--version"], capture_output=True, text=True, timeout=30)
    return "Open MPI" in version.stdout or "OpenRTE" in version.stdout


# It once hung under Open MPI 4.1: its mpiexec gives each rank a pty for standard output, so rank 0 drew a
# progress bar in front of every log line and this test never saw its iteration line. Under a launcher the
# log has no progress bar now (caudal.api._logger).
@pytest.mark.mpi
def test_ctrl_c_checkpoints_and_exits_130_on_every_rank(tmp_path):
    """Ctrl-C in the middle of a long iteration: within seconds, a checkpoint of the last complete iteration.

    A terminal sends Ctrl-C to mpiexec's process group. MPICH's ranks are in it
    and see the SIGINT: each stops, and the job exits 130. Open MPI puts each rank
    in a group of its own and its mpiexec turns the Ctrl-C into a SIGTERM to the
    ranks (a SIGKILL follows 1 s later), which may not forward SIGINT (its
    ess_base_forward_signals refuses it): the ranks stop as for a walltime
    signal, and mpiexec exits with a status of its own.
    """
    run_dir = tmp_path / "run"
    job = subprocess.Popen(
        [mpiexec(), "-n", "2", sys.executable, "-m", "caudal", "train", "brazil4", "--stages", "3", "--threads", "1",
         "--forward-passes", "300", "--iterations", "100000", "--checkpoint-every", "100000",
         "--output", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    seen = []
    for line in job.stdout:  # iteration 1 is done (each takes seconds): 2 has begun
        seen.append(line)
        if line.split()[:1] == ["1"]:
            break
    time.sleep(0.5)
    started = time.monotonic()
    os.killpg(job.pid, signal.SIGINT)
    try:
        stdout, stderr = job.communicate(timeout=DEADLINE)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert time.monotonic() - started < DEADLINE
    output = "".join(seen) + stdout
    assert "\x1b[" not in output, "no progress bar under a launcher"
    # Open MPI's launcher may log its own libevent noise while it tears the job down ("[warn] Epoll MOD(1) on
    # fd 24 failed ... Bad file descriptor"): not caudal's, so not counted as a failure here.
    ours = "\n".join(line for line in stderr.splitlines() if not line.lstrip().startswith("[warn] Epoll"))
    assert "KeyboardInterrupt" not in ours and "failed" not in ours and "Traceback" not in ours, stderr
    received = "SIGTERM" if open_mpi() else "SIGINT"
    assert f"{received} received: stopping, with a checkpoint of the last complete iteration" in stderr, stderr
    # Which iteration was under way depends on when the launcher forwarded the lines and the signal (Open MPI's
    # pty can hold iteration 1's line back): the run stops in it, drops it and checkpoints the one before.
    stopped = re.search(rf"status: interrupted \({received} received\) after (\d+) iterations? ", output)
    assert stopped, output
    complete = int(stopped.group(1))
    assert complete >= 1
    printed = [line.split()[0] for line in output.splitlines() if re.match(r"\s+\d+\s+\d", line)]
    assert printed[-1] == str(complete), output  # no line of the dropped iteration
    if not open_mpi():
        assert job.returncode == 130, stderr
    assert [p.name for p in (run_dir / "checkpoints").glob("checkpoint-*.caudal")] == [
        f"checkpoint-{complete:08d}.caudal"]
