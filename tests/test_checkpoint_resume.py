"""Resuming from a checkpoint continues exactly as a run that never stopped.

Train 2k iterations straight; train k, checkpoint, read, restore into fresh
workers (as a restarted process would), train to 2k: cuts, bases and bounds
must be identical bit for bit, also when the resumed run uses another number
of threads. A checkpoint of another case or of options that change the policy
is refused with a message that says what differs.
"""

from __future__ import annotations

import dataclasses

import pytest
from test_checkpoint_cases import (
    assert_same_state,
    deactivate_some_cuts,
    new_pool,
    trained_state,
    two_reservoirs,
)

import caudal.sddp.selection
from caudal.checkpoint import (
    CheckpointError,
    latest_valid,
    read_checkpoint,
    restore_pools,
    restore_state,
    write_checkpoint,
)
from caudal.parallel.workers import make_pool
from caudal.sddp.risk import CVaR
from caudal.sddp.stage_cache import StageCache
from caudal.sddp.training import TrainingOptions, TrainingState, run_training
from caudal.solver.deterministic_equivalent import deterministic_equivalent

K = 4
OPTIONS = TrainingOptions(iterations=2 * K, forward_passes=3, seed=5)


@pytest.fixture(scope="module")
def problem():
    return two_reservoirs()


def _train(state: TrainingState, options: TrainingOptions, pool=None) -> None:
    pool = pool or new_pool()
    try:
        run_training(state, pool, options)
    finally:
        pool.close()


def _straight(problem, options, deactivate_at: int | None = None) -> TrainingState:
    state = TrainingState.fresh(problem)
    if deactivate_at is None:
        _train(state, options)
    else:
        _train(state, dataclasses.replace(options, iterations=deactivate_at))
        deactivate_some_cuts(state)
        _train(state, options)
    return state


def _resumed(
    problem,
    options,
    directory,
    *,
    deactivate: bool = False,
    threads: int = 1,
    resume_options: TrainingOptions | None = None,
) -> TrainingState:
    """Train K iterations with ``options``, checkpoint; restore and finish with ``resume_options``.

    ``resume_options`` (default: ``options``) stands for the options object a
    restarted process builds afresh.
    """
    first_half = trained_state(problem, dataclasses.replace(options, iterations=K))
    if deactivate:
        deactivate_some_cuts(first_half)
    write_checkpoint(directory, first_half, dataclasses.replace(options, iterations=K))
    path, warnings = latest_valid(directory)
    assert path is not None and warnings == []
    del first_half  # nothing of the first process survives but the file
    options = resume_options or options
    state = restore_state(read_checkpoint(path), problem, options)
    _train(state, options, make_pool(threads, "highspy") if threads > 1 else None)
    return state


def test_resume_is_bit_identical(tmp_path, problem):
    straight = _straight(problem, OPTIONS)
    resumed = _resumed(problem, OPTIONS, tmp_path)
    assert_same_state(straight, resumed, compare_times=False)
    assert [r.lp_solves for r in straight.history] == [r.lp_solves for r in resumed.history]


def test_resume_with_inactive_cuts_is_bit_identical(tmp_path, problem):
    straight = _straight(problem, OPTIONS, deactivate_at=K)
    resumed = _resumed(problem, OPTIONS, tmp_path, deactivate=True)
    assert_same_state(straight, resumed, compare_times=False)


def test_resume_on_another_layout_is_bit_identical(tmp_path, problem):
    """Written by one thread, resumed by two."""
    options = dataclasses.replace(OPTIONS, risk_measure=CVaR(0.5))
    straight = _straight(problem, options)
    resumed = _resumed(problem, options, tmp_path, threads=2)
    assert_same_state(straight, resumed, compare_times=False)


@pytest.mark.parametrize("selection", ["Level1", "LimitedMemoryLevel1"])
def test_resume_with_cut_selection_is_bit_identical(tmp_path, problem, selection):
    """Cut selection decides from the visited states: they must come back exactly."""

    def fresh_options() -> TrainingOptions:  # a selection may keep working memory: one per process
        return dataclasses.replace(OPTIONS, cut_selection=getattr(caudal.sddp.selection, selection)(max_active=6))

    straight = _straight(problem, fresh_options())
    assert any(not pool.active.all() for pool in straight.pools), "selection should drop some cuts"
    resumed = _resumed(problem, fresh_options(), tmp_path, resume_options=fresh_options())
    assert_same_state(straight, resumed, compare_times=False)


def test_limits_may_change_on_resume(tmp_path, problem):
    state = trained_state(problem, dataclasses.replace(OPTIONS, iterations=K))
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, dataclasses.replace(OPTIONS, iterations=K)))
    longer = dataclasses.replace(OPTIONS, iterations=50, time_limit=3600.0)
    assert restore_state(checkpoint, problem, longer).iteration == K


def _refusal(tmp_path, problem, options, other_problem=None, other_options=None) -> str:
    state = trained_state(problem, options)
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, options))
    with pytest.raises(CheckpointError) as caught:
        restore_state(checkpoint, other_problem or problem, other_options or options)
    assert caught.value.kind == "fingerprint"
    message = str(caught.value)
    assert str(checkpoint.path) in message and "cannot resume" in message
    return message


def test_another_case_is_refused_naming_what_differs(tmp_path, problem):
    options = dataclasses.replace(OPTIONS, iterations=2)
    message = _refusal(tmp_path, problem, options, other_problem=two_reservoirs(demand=160.0))
    assert "case fingerprint mismatch" in message
    assert "LP data (matrix, bounds, costs or openings) of 5 stage(s) differs: 0, 1, 2, 3, 4" in message
    message = _refusal(tmp_path, problem, options, other_problem=two_reservoirs(stages=6))
    assert "5 stages in the checkpoint, 6 in this case" in message


def test_options_that_change_the_policy_are_refused(tmp_path, problem):
    options = dataclasses.replace(OPTIONS, iterations=2)
    other = dataclasses.replace(options, forward_passes=4, seed=6)
    message = _refusal(tmp_path, problem, options, other_options=other)
    assert "options fingerprint mismatch" in message
    assert "forward_passes was 3 in the checkpoint, is 4 now" in message
    assert "seed was 5 in the checkpoint, is 6 now" in message
    message = _refusal(tmp_path, problem, options, other_options=dataclasses.replace(options, risk_measure=CVaR(0.5)))
    assert "risk_measure was None in the checkpoint, is caudal.sddp.risk.CVaR(alpha=0.5) now" in message


def test_a_policy_loads_for_simulation_whatever_the_options(tmp_path, problem):
    options = dataclasses.replace(OPTIONS, iterations=2)
    state = trained_state(problem, options)
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, options))
    pools = restore_pools(checkpoint, problem)
    assert all(a.coefficients.tobytes() == b.coefficients.tobytes() for a, b in zip(pools, state.pools, strict=True))
    with pytest.raises(CheckpointError, match="cannot use this policy: case fingerprint mismatch"):
        restore_pools(checkpoint, two_reservoirs(demand=151.0))


def test_a_checkpoint_with_every_cut_as_a_row_resumes(tmp_path, problem):
    """Bases saved by a caudal whose stage LPs held every active cut (before working sets) carry over."""
    options = dataclasses.replace(OPTIONS, iterations=K)
    state = trained_state(problem, options)
    every_cut = StageCache(problem, state.pools)
    old = dataclasses.replace(state, cache=every_cut)
    path = write_checkpoint(tmp_path, old, options)
    resumed = restore_state(read_checkpoint(path), problem, OPTIONS)
    assert any(lp.num_cuts < full.num_cuts for lp, full in zip(resumed.cache.lps, every_cut.lps, strict=True))
    for lp, basis in zip(resumed.cache.lps, resumed.cache.bases, strict=True):
        assert basis.row_status.size == lp.num_rows
    _train(resumed, OPTIONS)
    assert resumed.iteration == 2 * K
    # The first iterations after the resume solve LPs with every cut as a row; where those are degenerate the
    # openings answered from a kept basis take other (valid) subgradients than straight training's, so the two
    # paths part: close, and never above the optimum.
    straight = _straight(problem, OPTIONS)
    assert resumed.history[-1].lower_bound == pytest.approx(straight.history[-1].lower_bound, rel=2e-2)
    assert resumed.history[-1].lower_bound <= deterministic_equivalent(problem).objective * (1 + 1e-9)


def test_a_saved_basis_that_does_not_fit_its_cuts_is_refused(tmp_path, problem):
    options = dataclasses.replace(OPTIONS, iterations=2)
    state = trained_state(problem, options)
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, options))
    saved = checkpoint.bases[1]
    broken = dataclasses.replace(saved, cut_ids=saved.cut_ids[:-1])
    bases = list(checkpoint.bases)
    bases[1] = broken
    with pytest.raises(CheckpointError, match="stage 1: the saved basis has"):
        restore_state(dataclasses.replace(checkpoint, bases=bases), problem, options)
