"""A stop request inside an iteration: answered between blocks of passes, the iteration undone.

* asked during a forward pass or in the middle of a backward pass (with and
  without cut selection), training stops with status ``"interrupted"`` and a
  state bit-identical to a run that did only the complete iterations; training
  that state on gives what a run that never stopped gives;
* a request standing when training starts lets the first iteration finish;
* under ``mpiexec``, with node-shared pools and stage LPs, one rank asked
  before the other: both stop at the same point and train on as one process;
* through ``caudal.train``: a SIGTERM in the middle of a backward pass writes
  the checkpoint of the last complete iteration, and the resumed run's bounds
  are those of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from pathlib import Path

import pytest
from mpi_helpers import run_ranks
from test_checkpoint_cases import assert_same_state, new_pool, trained_state, two_reservoirs

import caudal
import caudal.sddp.interruptible as interruptible
from caudal.sddp.selection import LimitedMemoryLevel1
from caudal.sddp.training import TrainingOptions, TrainingState, run_training

OPTIONS = TrainingOptions(iterations=6, forward_passes=9, seed=3)  # 1 worker: blocks of 4 passes, 3 per pass


@pytest.fixture(scope="module")
def problem():
    return two_reservoirs(stages=4)


@pytest.fixture(autouse=True)
def fixed_blocks(monkeypatch):
    """Blocks of 4 passes that do not grow (they double while they take under BLOCK_SECONDS / 2)."""
    monkeypatch.setattr(interruptible, "BLOCK_SECONDS", 0.0)


class AskedDuring:
    """A stop request that arrives during the ``call``-th call of ``interruptible.<function>``."""

    def __init__(self, monkeypatch, function: str, call: int):
        self.calls = 0
        self.asked = False
        real = getattr(interruptible, function)

        def counted(*args, **kwargs):
            self.calls += 1
            if self.calls == call:
                self.asked = True  # as a signal handler would, while the block runs
            return real(*args, **kwargs)

        monkeypatch.setattr(interruptible, function, counted)

    def __call__(self) -> bool:
        return self.asked


@pytest.mark.parametrize("selection", [None, LimitedMemoryLevel1()], ids=["all cuts", "cut selection"])
@pytest.mark.parametrize("function,call", [
    ("forward_pass", 8),  # iteration 3, second of its three forward blocks
    ("backward_stage", 14),  # iteration 2, stage 2 of 3 (three blocks a stage): stage 3's cuts are added
    ("backward_stage", 27),  # iteration 3, last block of the last stage
])
def test_a_request_inside_an_iteration_undoes_it(problem, monkeypatch, selection, function, call):
    options = dataclasses.replace(OPTIONS, cut_selection=selection)
    asked = AskedDuring(monkeypatch, function, call)
    state = TrainingState.fresh(problem)
    undone = []
    real_undo = interruptible.IterationUndo.undo
    monkeypatch.setattr(interruptible.IterationUndo, "undo", lambda self: (undone.append(1), real_undo(self)))
    assert run_training(state, new_pool(), options, interrupt=asked) == "interrupted"
    assert undone == [1], "stopped inside the iteration, not at its end"
    assert asked.calls == call, "no block after the request"
    monkeypatch.undo()
    complete = state.iteration
    assert 1 <= complete < options.iterations
    fresh = dataclasses.replace(options, cut_selection=selection and LimitedMemoryLevel1())
    assert_same_state(state, trained_state(problem, dataclasses.replace(fresh, iterations=complete)),
                      compare_times=False)
    run_training(state, new_pool(), options)  # and on, in the same process
    assert_same_state(state, trained_state(problem, fresh), compare_times=False)


def test_a_request_standing_at_the_start_lets_one_iteration_finish(problem):
    state = TrainingState.fresh(problem)
    assert run_training(state, new_pool(), OPTIONS, interrupt=lambda: True) == "interrupted"
    assert state.iteration == 1


def test_a_run_without_a_request_is_unchanged_by_blocks(problem, monkeypatch):
    """Blocks change when the request is asked, never a cut: the interruptible run equals the plain one."""
    state = TrainingState.fresh(problem)
    run_training(state, new_pool(), OPTIONS, interrupt=lambda: False)
    assert_same_state(state, trained_state(problem, OPTIONS), compare_times=False)


def test_sigterm_inside_a_backward_pass_checkpoints_and_resumes_to_the_same_bounds(problem, tmp_path, monkeypatch):
    real = interruptible.backward_stage
    calls = []

    def signalled(*args, **kwargs):
        calls.append(1)
        if len(calls) == 23:  # iteration 3, in its backward pass
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(interruptible, "backward_stage", signalled)
    run = tmp_path / "run"
    common = {"forward_passes": 9, "seed": 3, "threads": 1, "solver": "highspy", "checkpoint_every": 100}
    stopped = caudal.train(problem, iterations=6, output=run, handle_signals=True, **common)
    monkeypatch.undo()
    assert stopped.status == "interrupted" and stopped.iterations == 2
    assert stopped.checkpoint is not None and stopped.checkpoint.name == "checkpoint-00000002.caudal"
    resumed = caudal.train(problem, iterations=6, resume=run, **common)
    straight = caudal.train(problem, iterations=6, **common)
    assert [r.lower_bound for r in resumed.history] == [r.lower_bound for r in straight.history]
    assert [r.upper_bound_mean for r in resumed.history] == [r.upper_bound_mean for r in straight.history]


TWO_RANKS = """
import json, os, sys
import caudal.sddp.interruptible as interruptible
from caudal.parallel.comm import world
from caudal.parallel.workers import make_pool
from caudal.sddp.training import TrainingOptions, TrainingState, run_training
from test_checkpoint_cases import two_reservoirs

interruptible.BLOCK_SECONDS = 0.0  # blocks of 4 passes: rank 0 (5 passes) runs 2 a stage, rank 1 (4 passes) 1
comm = world()
calls = [0]
real = interruptible.backward_stage


def counted(*args, **kwargs):
    calls[0] += 1
    return real(*args, **kwargs)


interruptible.backward_stage = counted
state = TrainingState.fresh(two_reservoirs(stages=4), comm)  # node-shared pools and stage LPs
pool = make_pool(1, "highspy")
options = TrainingOptions(iterations=6, forward_passes=9, seed=3)
# rank 0 is asked in its 8th backward block (iteration 2, stage 2); rank 1 would be in iteration 3 by then
status = run_training(state, pool, options, comm=comm, interrupt=lambda: calls[0] >= 8)
stopped = state.iteration
interruptible.backward_stage = real
run_training(state, pool, options, comm=comm)
if comm.rank == 0:
    print(json.dumps({"status": status, "stopped": stopped, "bounds": [r.lower_bound for r in state.history],
                      "means": [r.upper_bound_mean for r in state.history]}), flush=True)
"""


@pytest.mark.mpi
def test_ranks_asked_at_different_points_agree_and_undo_the_iteration(problem, tmp_path):
    """Two ranks on one node (shared pools and LPs): one is asked, both stop, and training on matches one process."""
    script = tmp_path / "two_ranks.py"
    script.write_text(TWO_RANKS)
    done = run_ranks(2, [str(script)], env={"PYTHONPATH": str(Path(__file__).parent)}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "interrupted" and result["stopped"] == 1, result
    straight = trained_state(problem, OPTIONS)
    assert result["bounds"] == [r.lower_bound for r in straight.history]
    assert result["means"] == [r.upper_bound_mean for r in straight.history]
