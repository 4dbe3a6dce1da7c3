"""A resume reads a checkpoint directory stage file by stage file, straight into the pools.

It gives back the same state, bit for bit, as decoding the whole checkpoint
first; a damaged stage file is named and the previous checkpoint used; the
peak memory of a resume is one copy of the pools (plus one stage file), not
two; under MPI one rank per node reads and the others get the same pools.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_checkpoint_cases import assert_same_state, deactivate_some_cuts, new_pool, trained_state, two_reservoirs

import caudal
from caudal.checkpoint import CheckpointError, read_checkpoint, restore_pools, restore_state, write_checkpoint
from caudal.checkpoint.during_training import resume_state
from caudal.checkpoint.manifest import MANIFEST_NAME
from caudal.checkpoint.stage_files import DeferredCheckpoint
from caudal.parallel.comm import SingleProcessCommunicator
from caudal.sddp.training import TrainingOptions, TrainingState, run_training

K = 3
OPTIONS = TrainingOptions(iterations=K, forward_passes=3, seed=7)
IN_PARTS = 300  # shard_bytes small enough to cut every stage into several files


@pytest.fixture(scope="module")
def problem():
    return two_reservoirs()


@pytest.fixture(scope="module")
def state(problem):
    trained = trained_state(problem, OPTIONS)
    deactivate_some_cuts(trained)
    return trained


@pytest.mark.parametrize("shard_bytes", [1 << 20, IN_PARTS])
def test_streamed_resume_equals_decoding_the_whole_checkpoint(tmp_path, problem, state, shard_bytes):
    path = write_checkpoint(tmp_path, state, OPTIONS, as_directory=True, shard_bytes=shard_bytes)
    deferred = read_checkpoint(path, defer_stages=True)
    assert isinstance(deferred, DeferredCheckpoint) and deferred.cut_pools == ()
    assert deferred.n_cuts == sum(pool.size for pool in state.pools)
    streamed = restore_state(deferred, problem, OPTIONS)
    whole = restore_state(read_checkpoint(path), problem, OPTIONS)
    assert_same_state(streamed, whole)
    assert_same_state(streamed, state)
    pools = restore_pools(read_checkpoint(path, defer_stages=True), problem)
    for restored, saved in zip(pools, state.pools, strict=True):
        assert restored.coefficients.tobytes() == saved.coefficients.tobytes()
        assert restored.targets.tobytes() == saved.targets.tobytes()


def test_sparse_cuts_are_scattered_back_with_every_bit(tmp_path, problem, state):
    """Cuts with +0.0 and -0.0 coefficients: CSR leaves out only the +0.0 ones, the rest come back exactly."""
    pool = state.pools[0]
    saved = pool.coefficients.copy()
    try:
        pool.coefficients[::2, 0] = 0.0
        pool.coefficients[1::2, 1] = -0.0
        path = write_checkpoint(tmp_path, state, OPTIONS, as_directory=True, shard_bytes=IN_PARTS)
        restored = restore_state(read_checkpoint(path, defer_stages=True), problem, OPTIONS)
        assert restored.pools[0].coefficients.tobytes() == pool.coefficients.tobytes()
    finally:
        pool.coefficients[:] = saved


def test_resume_state_streams_and_continues_like_a_run_that_never_stopped(tmp_path, problem):
    options = dataclasses.replace(OPTIONS, iterations=2 * K)
    straight = TrainingState.fresh(problem)
    run_training(straight, new_pool(), options)
    half = trained_state(problem, OPTIONS)
    write_checkpoint(tmp_path, half, options, as_directory=True, shard_bytes=IN_PARTS)
    resumed, path, warnings = resume_state(tmp_path, problem, options, SingleProcessCommunicator())
    assert path.is_dir() and warnings == []
    run_training(resumed, new_pool(), options)
    assert_same_state(straight, resumed, compare_times=False)


def _flip_a_byte(path) -> str:
    stage = sorted(p for p in path.iterdir() if p.name != MANIFEST_NAME)[1]
    data = bytearray(stage.read_bytes())
    data[len(data) // 2] ^= 0x20
    stage.write_bytes(bytes(data))
    return str(stage)


def test_a_damaged_stage_file_is_named_when_streamed_and_the_previous_checkpoint_used(tmp_path, problem, state):
    older = write_checkpoint(tmp_path, dataclasses.replace(state, iteration=1, history=state.history[:1]), OPTIONS,
                             as_directory=True, keep=5)
    newer = write_checkpoint(tmp_path, dataclasses.replace(state, iteration=2, history=state.history[:2]), OPTIONS,
                             as_directory=True, keep=5)
    named = _flip_a_byte(newer)
    with pytest.raises(CheckpointError) as caught:
        restore_state(read_checkpoint(newer, defer_stages=True), problem, OPTIONS)
    assert caught.value.kind == "checksum" and named in str(caught.value), caught.value
    resumed, path, warnings = resume_state(tmp_path, problem, OPTIONS, SingleProcessCommunicator())
    assert path == older and resumed.iteration == 1
    text = "\n".join(warnings)
    assert f"skipped {named}: bad checksum" in text and f"falling back to the previous good checkpoint {older}" in text


def test_a_missing_stage_file_is_found_before_anything_is_read(tmp_path, state):
    path = write_checkpoint(tmp_path, state, OPTIONS, as_directory=True)
    stage = path / "stage-0002-000.caudal"
    stage.unlink()
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(path, defer_stages=True)
    assert caught.value.kind == "missing" and str(stage) in str(caught.value)


# --- peak memory: one copy of the pools, not two ---

STATES, STAGES, CUTS = 120, 24, 1500  # pools of 24 x 1,500 x 120 x 8 bytes: 35 MB of coefficients

PEAK_GROWTH_IN_A_FRESH_PROCESS = """
import json, sys
sys.path.insert(0, sys.argv[2])
import caudal
from test_checkpoint_streamed_resume import OPTIONS, wide_problem

problem = wide_problem()
with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")  # the peak RSS from here on is the step's


def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))


before = status("VmRSS")
STEP
print(json.dumps({"growth": status("VmHWM") - before, "held": held}))
"""


def peak_growth_in_a_fresh_process(step: str, checkpoint) -> dict:
    """Peak RSS growth of ``step`` (code that reads ``sys.argv[1]``, the checkpoint, and sets ``held``, the
    bytes it keeps) run in a fresh interpreter after building ``wide_problem()``, and ``held``."""
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux /proc to reset and read the peak RSS")
    tests = os.path.dirname(os.path.abspath(__file__))
    script = PEAK_GROWTH_IN_A_FRESH_PROCESS.replace("STEP", textwrap.dedent(step).strip())
    done = subprocess.run([sys.executable, "-c", script, str(checkpoint), tests],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def wide_problem() -> caudal.model.problem.CompiledProblem:
    """``STATES`` reservoirs over ``STAGES`` stages: wide cuts, a small LP."""
    problem = caudal.Problem(name="wide")
    for _ in range(STAGES):
        stage = problem.add_stage(discount=0.99)
        inflow = stage.add_uncertain("inflow", [5.0, 20.0])
        releases = {}
        for k in range(STATES):
            reservoir = stage.add_state(f"r{k}", lower=0, upper=100, initial=50)
            release = stage.add_variable(f"release{k}", upper=30)
            releases[release] = 1.0
            stage.add_constraint({reservoir.out: 1, release: 1, reservoir.incoming: -1}, "==", inflow)
        stage.add_constraint({**releases, stage.add_variable("thermal", cost=100.0): 1}, "==", 10.0 * STATES)
    return problem.compile()


def _wide_checkpoint(directory) -> None:
    problem = wide_problem()
    state = TrainingState.fresh(problem)
    rng = np.random.default_rng(3)
    for t, pool in enumerate(state.pools[:-1]):
        pool.add(rng.standard_normal(CUTS), rng.standard_normal((CUTS, STATES)), np.arange(CUTS) // 30,
                 np.arange(CUTS) % 30)
        state.visited[t].add(rng.uniform(0, 100, size=(20, STATES)))
    state.history = [caudal.sddp.training.IterationRecord(i + 1, 1.0, 2.0, 1.5, 2.5, 0.0, 1) for i in range(2)]
    state.iteration = 2
    write_checkpoint(directory, state, OPTIONS, as_directory=True)


def test_a_resume_holds_the_pools_once_not_twice(tmp_path):
    """Peak RSS growth of a resume in a fresh process stays under 1.3x what the restored state holds.

    Decoding every stage file before copying it into the pools (mapped whole)
    grows it by more than 2x the pools; reading stage by stage, by the pools
    plus one stage file (1.5 MB here) and the stage LPs.
    """
    _wide_checkpoint(tmp_path)
    measured = peak_growth_in_a_fresh_process("""
        from caudal.checkpoint.during_training import resume_state
        from caudal.parallel.comm import SingleProcessCommunicator
        state, _, _ = resume_state(sys.argv[1], problem, OPTIONS, SingleProcessCommunicator())
        held = sum(p.nbytes for p in state.pools) + sum(a.nbytes for a in state.visited)
    """, tmp_path)
    assert measured["held"] > 30e6, measured
    assert measured["growth"] < 1.3 * measured["held"], measured


# --- under mpiexec: one reader per node, the same pools on every rank ---

TWO_RANKS_RESUME = """
import hashlib, os, sys
import caudal.checkpoint.stage_files as stage_files
from test_checkpoint_cases import two_reservoirs
from caudal.checkpoint.during_training import resume_state
from caudal.parallel.comm import world
from caudal.sddp.training import TrainingOptions

comm = world()
reads = []
real_read = stage_files.StageFiles.read
def counted(self, entry, *args):
    reads.append(entry.plan.file_name)
    return real_read(self, entry, *args)
stage_files.StageFiles.read = counted

options = TrainingOptions(iterations=3, forward_passes=3, seed=7)
state, path, warnings = resume_state(sys.argv[1], two_reservoirs(), options, comm)
digest = hashlib.sha256()
for pool, archive, basis in zip(state.pools, state.visited, state.cache.bases):
    for array in (pool.intercepts, pool.coefficients, pool.iteration, pool.forward_pass, pool.active,
                  pool.targets, archive.states, basis.col_status, basis.row_status):
        digest.update(array.tobytes())
comm.barrier()
os.write(1, f"rank {comm.rank}: read {len(reads)} files, state {digest.hexdigest()}\\n".encode())
os.write(1, f"rank {comm.rank}: resumed from {path.name} at iteration {state.iteration}, "
            f"{len(warnings)} warning(s)\\n".encode())
"""


@pytest.mark.mpi
def test_two_ranks_resume_the_same_state_as_one_and_one_rank_reads(tmp_path, state):
    from mpi_helpers import run_ranks

    path = write_checkpoint(tmp_path / "checkpoints", state, OPTIONS, as_directory=True, shard_bytes=IN_PARTS)
    script = tmp_path / "two_ranks.py"
    script.write_text(textwrap.dedent(TWO_RANKS_RESUME))
    tests = os.path.dirname(os.path.abspath(__file__))
    files = len([p for p in path.iterdir() if p.name != MANIFEST_NAME])
    outputs = {}
    for ranks in (1, 2):
        done = run_ranks(ranks, [str(script), str(path)], env={"PYTHONPATH": tests}, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs[ranks] = sorted(done.stdout.splitlines())
    single = outputs[1][0].split("state ")[1]
    assert outputs[1][0] == f"rank 0: read {files} files, state {single}", outputs
    assert outputs[2][0] == f"rank 0: read {files} files, state {single}", outputs
    assert outputs[2][2] == f"rank 1: read 0 files, state {single}", outputs


@pytest.mark.mpi
@pytest.mark.parametrize("nodes", [{}, {"CAUDAL_RANKS_PER_NODE": "1"}], ids=["one node", "two emulated nodes"])
def test_a_damaged_stage_file_makes_both_ranks_fall_back_together(tmp_path, state, nodes):
    """The node leader finds the bad digest and its node's other rank, which reads nothing, raises with it;
    on two nodes each leader finds it. Either way every rank falls back to the older checkpoint, none hangs."""
    from mpi_helpers import run_ranks

    folder = tmp_path / "checkpoints"
    write_checkpoint(folder, dataclasses.replace(state, iteration=1, history=state.history[:1]), OPTIONS,
                     as_directory=True, keep=5)
    newer = write_checkpoint(folder, dataclasses.replace(state, iteration=2, history=state.history[:2]), OPTIONS,
                             as_directory=True, keep=5, shard_bytes=IN_PARTS)
    _flip_a_byte(newer)
    script = tmp_path / "two_ranks.py"
    script.write_text(textwrap.dedent(TWO_RANKS_RESUME))
    tests = os.path.dirname(os.path.abspath(__file__))
    done = run_ranks(2, [str(script), str(folder)], env={"PYTHONPATH": tests, **nodes}, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for rank in (0, 1):
        assert f"rank {rank}: resumed from checkpoint-00000001.caudal at iteration 1, 2 warning(s)" in lines, lines
