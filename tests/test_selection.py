"""Cut selection keeps the value functions at visited states and the bound."""

from __future__ import annotations

import numpy as np
import pytest
from test_risk import two_reservoirs

import caudal
from caudal.examples import brazil4
from caudal.parallel.pool import SerialPool
from caudal.sddp.cuts import CutPool
from caudal.sddp.passes import first_stage_bound
from caudal.sddp.selection import Level1, LimitedMemoryLevel1, cut_values, dominating_cuts
from caudal.sddp.stage_cache import StageCache
from caudal.sddp.training import TrainingOptions, TrainingState, run_training
from caudal.solver.highspy_workspace import HighspyWorkspace


def random_pool(rng: np.random.Generator, n_cuts: int, n_states: int) -> CutPool:
    pool = CutPool(n_states)
    pool.add(rng.normal(size=n_cuts), rng.normal(size=(n_cuts, n_states)), 0, np.arange(n_cuts))
    return pool


@pytest.mark.parametrize("seed", range(5))
def test_selected_cuts_give_the_same_maximum_at_every_visited_state(seed):
    rng = np.random.default_rng(seed)
    pool = random_pool(rng, 200, 3)
    visited = rng.normal(size=(50, 3))
    active = Level1().select(0, pool, visited)
    assert 0 < active.sum() < pool.size
    every = cut_values(pool.intercepts, pool.coefficients, visited).max(axis=1)
    kept = cut_values(pool.intercepts[active], pool.coefficients[active], visited).max(axis=1)
    assert np.array_equal(every, kept)


@pytest.mark.parametrize("shape", [(600, 203), (90, 700)], ids=["more cuts", "more states"])
@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("block_elements", [700, 5000, 1 << 15])
def test_dominating_cuts_block_by_block_are_the_argmax_over_every_cut_bit_for_bit(block_elements, native, shape):
    n_cuts, n_states = shape
    half = n_cuts // 2
    rng = np.random.default_rng(11)
    intercepts, coefficients = rng.normal(size=n_cuts), rng.normal(size=(n_cuts, 13))
    intercepts[half:], coefficients[half:] = intercepts[:half], coefficients[:half]  # ties: the oldest must win
    states = rng.normal(size=(n_states, 13))
    values = cut_values(intercepts, coefficients, states)
    best, best_value = dominating_cuts(intercepts, coefficients, states, block_elements, native)
    assert np.array_equal(best, np.argmax(values, axis=1))
    assert best.max() < half
    assert np.array_equal(best_value, values.max(axis=1))


def test_limited_memory_level1_matches_level1_as_cuts_and_states_arrive():
    rng = np.random.default_rng(7)
    exact, incremental = Level1(), LimitedMemoryLevel1()
    pool = CutPool(2)
    visited = np.empty((0, 2))
    for step in range(12):
        pool.add(rng.normal(size=5), rng.normal(size=(5, 2)), step, np.arange(5))
        visited = np.vstack((visited, rng.normal(size=(3, 2))))
        assert np.array_equal(exact.select(0, pool, visited), incremental.select(0, pool, visited))


def test_max_active_caps_the_stage():
    rng = np.random.default_rng(3)
    pool = random_pool(rng, 300, 2)
    visited = rng.normal(size=(400, 2))
    assert Level1(max_active=5).select(0, pool, visited).sum() == 5


@pytest.mark.parametrize("selection", [Level1(), LimitedMemoryLevel1()], ids=["level1", "lml1"])
def test_training_with_selection_converges_to_the_exact_value(selection):
    problem = two_reservoirs(11)
    exact = caudal.deterministic_equivalent(problem).objective
    result = caudal.train(problem, iterations=40, forward_passes=4, cut_selection=selection)
    assert result.lower_bound == pytest.approx(exact, rel=1e-6)
    assert all(r.lower_bound <= exact * (1 + 1e-9) for r in result.history)
    assert sum(int(p.active.sum()) for p in result.policy.cut_pools) < result.policy.n_cuts


@pytest.mark.parametrize(
    "build", [lambda: two_reservoirs(4), lambda: brazil4(stages=4, openings=8)], ids=["reservoirs", "brazil4"]
)
def test_selection_does_not_move_the_bound_of_a_trained_policy(build):
    """Drop the dominated cuts of a trained policy: the first-stage bound stays put."""
    problem = build().compile()
    state = TrainingState.fresh(problem)
    pool = SerialPool(HighspyWorkspace())
    run_training(state, pool, TrainingOptions(iterations=12, forward_passes=3, seed=1))
    before, _ = first_stage_bound(state.cache, pool, problem.initial_state)
    dropped = 0
    for t, cut_pool in enumerate(state.pools[:-1]):
        mask = Level1().select(t, cut_pool, state.visited[t].states)
        dropped += int((~mask).sum())
        cut_pool.set_active(mask)
    assert dropped > 0
    after, _ = first_stage_bound(StageCache(problem, state.pools), pool, problem.initial_state)
    assert after == pytest.approx(before, rel=1e-9)


def test_a_selection_object_can_serve_two_trainings():
    selection = LimitedMemoryLevel1()
    first = caudal.train(two_reservoirs(2), iterations=6, forward_passes=2, cut_selection=selection)
    second = caudal.train(two_reservoirs(2), iterations=6, forward_passes=2, cut_selection=selection)
    assert second.policy.digest() == first.policy.digest()


def test_pool_counts_its_target_groups_as_cuts_arrive_and_after_a_truncation():
    rng = np.random.default_rng(2)
    pool = CutPool(2)
    assert pool.n_target_groups == 1  # empty
    pool.add(rng.normal(size=3), rng.normal(size=(3, 2)), 1, np.arange(3))  # single-cut: target 0
    assert pool.n_target_groups == 1
    pool.add(rng.normal(size=4), rng.normal(size=(4, 2)), 2, np.zeros(4, dtype=np.int64), np.array([0, 1, 3, 2]))
    assert pool.n_target_groups == 4 == int(pool.targets.max()) + 1
    pool.truncate(5)  # drops the cut of target 3: the count falls back to what the kept cuts hold
    assert pool.n_target_groups == 2 == int(pool.targets.max()) + 1
    pool.add(rng.normal(size=1), rng.normal(size=(1, 2)), 3, np.zeros(1, dtype=np.int64), np.int64(6))
    assert pool.n_target_groups == 7
    pool.free()
    assert pool.n_target_groups == 1


def test_single_group_highest_cuts_follow_the_group_path_when_the_update_is_large():
    # a pool above SMALL_UPDATE goes through add_cuts/add_states with every cut's id: same answers as Level1
    rng = np.random.default_rng(5)
    pool = CutPool(3)
    states = rng.normal(size=(40, 3))
    dominance = LimitedMemoryLevel1()
    pool.add(rng.normal(size=3000), rng.normal(size=(3000, 3)), 1, np.zeros(3000, dtype=np.int64))
    highest = dominance.highest_cuts(0, pool, states).copy()
    values = pool.intercepts[None, :] + states @ pool.coefficients.T
    assert np.array_equal(highest, values.argmax(axis=1))
