"""Training warm-started from an earlier policy's cuts (caudal.train(..., warm_start=...), --warm-start)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydro_problems import random_hydro

import caudal
from caudal.checkpoint import inspect_checkpoint, load_latest, read_checkpoint, write_checkpoint
from caudal.checkpoint.restore import restore_state
from caudal.cli import main
from caudal.sddp.training import TrainingOptions
from caudal.sddp.warm_start import WarmStartError


@pytest.fixture(scope="module")
def converged():
    """A small problem trained until its bound no longer moves."""
    problem = random_hydro(2, 3, 3, seed=7)
    return problem, caudal.train(problem, iterations=25, forward_passes=2, threads=1)


def iterations_to_reach(result: caudal.TrainingResult, bound: float) -> int:
    return next(r.iteration for r in result.history if r.lower_bound >= bound - 1e-6 * abs(bound))


def test_a_warm_start_begins_at_the_converged_bound_and_needs_fewer_iterations(converged) -> None:
    problem, done = converged
    cold = caudal.train(problem, iterations=25, forward_passes=2, seed=1, threads=1)
    warm = caudal.train(problem, iterations=3, forward_passes=2, seed=1, threads=1, warm_start=done)
    assert warm.history[0].lower_bound >= done.lower_bound - 1e-9 * abs(done.lower_bound)
    assert iterations_to_reach(warm, done.lower_bound) == 1
    assert iterations_to_reach(cold, done.lower_bound) > 1


def test_a_longer_horizon_starts_from_the_shorter_ones_cuts_and_stays_a_bound(converged) -> None:
    _, done = converged
    longer = random_hydro(2, 4, 3, seed=7)  # the same first three stages, one more after them
    warm = caudal.train(longer, iterations=2, forward_passes=2, threads=1, warm_start=done)
    assert warm.policy.cut_pools[0].size > 0
    assert warm.history[-1].lower_bound <= caudal.deterministic_equivalent(longer).objective * (1 + 1e-9)


def test_a_resumed_warm_started_run_is_bit_identical(converged, tmp_path) -> None:
    problem, done = converged
    started = random_hydro(2, 3, 3, seed=7)
    whole = caudal.train(started, iterations=5, forward_passes=2, threads=1, warm_start=done.policy,
                         checkpoint_dir=tmp_path / "whole")
    caudal.train(started, iterations=2, forward_passes=2, threads=1, warm_start=done.policy,
                 checkpoint_dir=tmp_path / "part", checkpoint_every=1)
    checkpoint, _ = load_latest(tmp_path / "part")
    assert checkpoint.warm_start.startswith("a policy in memory (policy digest " + done.policy.digest())
    resumed = caudal.train(started, iterations=5, forward_passes=2, threads=1, resume=tmp_path / "part",
                           checkpoint_dir=tmp_path / "part")
    assert resumed.policy.digest() == whole.policy.digest()
    assert [r.lower_bound for r in resumed.history] == [r.lower_bound for r in whole.history]
    assert load_latest(tmp_path / "part")[0].warm_start == checkpoint.warm_start
    with pytest.raises(ValueError, match="warm_start and resume exclude each other"):
        caudal.train(started, iterations=6, threads=1, resume=tmp_path / "part", warm_start=done)


@pytest.mark.parametrize("as_directory", [False, True])
def test_the_warm_start_is_kept_by_file_and_directory_checkpoints(converged, tmp_path, as_directory) -> None:
    problem, done = converged
    caudal.train(problem, iterations=1, threads=1, warm_start=done, checkpoint_dir=tmp_path / "run")
    saved = load_latest(tmp_path / "run")[0]
    state = restore_state(saved, problem.compile(), TrainingOptions(iterations=1, forward_passes=1))
    path = write_checkpoint(tmp_path / "again", state, TrainingOptions(iterations=1, forward_passes=1),
                            as_directory=as_directory)
    assert path.is_dir() == as_directory
    assert read_checkpoint(path).warm_start == saved.warm_start != ""
    assert f"warm-started from {saved.warm_start}" in inspect_checkpoint(path)
    caudal.train(problem, iterations=1, threads=1, checkpoint_dir=tmp_path / "cold")
    cold = load_latest(tmp_path / "cold")[0]
    assert cold.warm_start == "" and "warm-started" not in inspect_checkpoint(cold.path)


def test_a_mismatched_state_space_is_refused(converged, tmp_path, capsys) -> None:
    _, done = converged
    with pytest.raises(WarmStartError, match=r"the policy's states are \['v0', 'v1'\], this problem's "
                                             r"\['v0', 'v1', 'v2'\] \(states are matched by name\)"):
        caudal.train(random_hydro(3, 3, 3), iterations=1, threads=1, warm_start=done)
    with pytest.raises(WarmStartError, match="the policy has 3 stages, this problem 2"):
        caudal.train(random_hydro(2, 2, 3, seed=7), iterations=1, threads=1, warm_start=done)
    caudal.train(caudal.examples.brazil4(stages=2), iterations=1, threads=1, output=tmp_path, profile=False)
    case = str(Path(__file__).parent / "cases" / "first_steps.py")
    assert main(["train", case, "-n", "1", "-q", "--warm-start", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "--warm-start" in error and "states are matched by name" in error
