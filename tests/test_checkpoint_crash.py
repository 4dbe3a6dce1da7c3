"""Crash safety: a writer killed with SIGKILL at random moments never leaves a bad checkpoint.

A helper process imports caudal once and builds a training state, then forks
one writer per trial (so a trial costs a fork, not an interpreter start). The
writer writes checkpoints in a loop; the test kills it with SIGKILL after a
random delay, which lands anywhere: while encoding, while writing or fsyncing
the temporary file, between the rename and the pruning. After every kill, every
file named like a checkpoint must verify, and ``latest_valid`` must return the
newest one without skipping anything: a partial file is never taken for valid.
Both layouts are tried: single files, and checkpoint directories (stage files
written on two threads into a temporary directory renamed whole).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from caudal.checkpoint import latest_valid, read_checkpoint
from caudal.checkpoint.files import list_checkpoints, list_temporaries

TRIALS = 30
ROOT = Path(__file__).resolve().parent.parent

ZYGOTE = textwrap.dedent(
    """
    import dataclasses, os, sys
    import numpy as np
    from test_checkpoint_cases import two_reservoirs
    from caudal.checkpoint import write_checkpoint
    from caudal.sddp.cuts import CutPool
    from caudal.sddp.stage_cache import StageCache
    from caudal.sddp.training import IterationRecord, TrainingOptions, TrainingState

    directory, n_cuts, as_directory = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "directory"
    problem = two_reservoirs(stages=6)
    rng = np.random.default_rng(0)
    pools = []
    for _ in range(problem.n_stages):
        pool = CutPool(problem.n_states)
        pool.add(rng.normal(size=n_cuts), rng.normal(size=(n_cuts, problem.n_states)), 0, np.arange(n_cuts))
        pools.append(pool)
    state = TrainingState(problem, pools, StageCache(problem, pools))
    options = TrainingOptions(iterations=10**6, forward_passes=n_cuts)
    record = IterationRecord(0, 1.0, 2.0, 1.5, 2.5, 0.1, 10)
    print("ready", flush=True)
    for line in sys.stdin:
        start = int(line)
        pid = os.fork()
        if pid == 0:  # the writer: checkpoints in a loop until killed
            iteration = start
            while True:
                at = dataclasses.replace(state, iteration=iteration, history=[record] * iteration)
                write_checkpoint(directory, at, options, keep=3, as_directory=as_directory, threads=2)
                iteration += 1
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(status, flush=True)
    """
)


@pytest.fixture(params=["file", "directory"])
def zygote(tmp_path, request):
    script = tmp_path / "zygote.py"
    script.write_text(ZYGOTE)
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]))
    process = subprocess.Popen(
        [sys.executable, str(script), str(directory), "3000", request.param],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout.readline().strip() == "ready"
    yield process, directory
    process.stdin.close()
    process.wait(timeout=30)


def test_kill_minus_nine_never_leaves_a_bad_checkpoint(zygote):
    process, directory = zygote
    rng = np.random.default_rng(2024)
    next_iteration = 1
    killed_mid_write = 0
    for trial in range(TRIALS):
        process.stdin.write(f"{next_iteration}\n")
        process.stdin.flush()
        pid = int(process.stdout.readline())
        time.sleep(float(rng.uniform(0.0, 0.12)))
        os.kill(pid, signal.SIGKILL)
        status = int(process.stdout.readline())
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"trial {trial}: writer ended early"

        killed_mid_write += bool(list_temporaries(directory))
        found = list_checkpoints(directory)
        for iteration, path in found:  # every file under a checkpoint name is complete
            assert read_checkpoint(path).iteration == iteration, f"trial {trial}: {path}"
        newest, warnings = latest_valid(directory)
        if found:
            assert newest == found[0][1]
            assert not any(w.startswith("skipped") for w in warnings), warnings
            next_iteration = found[0][0] + 1
        else:
            assert newest is None
    print(f"{killed_mid_write} of {TRIALS} kills left a temporary file; last iteration {next_iteration - 1}")
    assert killed_mid_write > 0, "no kill landed during a write: the test did not test anything"
