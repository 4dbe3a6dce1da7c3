"""Multi-cut: one value-function column per next-stage opening, each with its own cuts.

* The layout: ``theta - sum_o p_o theta_o = 0`` in the template, each cut's 1.0
  in its target's column.
* The bound: never above the deterministic equivalent, equal to it (and to
  single-cut's converged bound) once converged, in both senses, with unequal
  probabilities and discounting.
* Cut selection keeps every target's maximum at every visited state.
* Checkpoints keep the targets; a resume is bit-identical; a resume that flips
  multi-cut, and multi-cut with a risk measure, are refused.
* Under ``mpiexec``, the same seed gives the same multi-cut policy whatever the
  ranks x threads layout.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from mpi_helpers import train_ranks
from problems import RandomSpec, deterministic_optimum, first_steps, random_problem
from test_checkpoint_cases import assert_same_state, new_pool, trained_state, two_reservoirs

import caudal
from caudal.api import Policy
from caudal.checkpoint import (
    CheckpointError,
    latest_valid,
    read_checkpoint,
    restore_pools,
    restore_state,
    write_checkpoint,
)
from caudal.checkpoint.fingerprint import options_fingerprint, policy_options
from caudal.checkpoint.tools import cuts_table
from caudal.model.stage_lp import assemble_stage_lp
from caudal.sddp.cuts import CutPool
from caudal.sddp.risk import CVaR, EAVaR
from caudal.sddp.selection import Level1, LimitedMemoryLevel1, cut_values
from caudal.sddp.training import TrainingOptions, TrainingState, run_training

SPECS = [
    RandomSpec(seed=1, openings=(1, 3, 4), states=2),
    RandomSpec(seed=2, openings=(2, 3, 2, 3), states=3, probabilities=True),
    RandomSpec(seed=3, openings=(1, 4, 3), states=2, discount=0.9, sense="max"),
    RandomSpec(seed=4, openings=(1, 2, 5, 2), states=4, probabilities=True, discount=0.95),
]


# -- the layout ---------------------------------------------------------------


def test_every_stage_but_the_last_gets_one_value_column_per_next_opening():
    single = random_problem(RandomSpec(seed=2, openings=(2, 3, 2, 3), states=3, probabilities=True)).compile()
    multi = single.with_multi_cut()
    assert multi.multi_cut and not single.multi_cut and multi.single_cut is single
    assert multi.with_multi_cut() is multi
    for t, (base, template) in enumerate(zip(single.templates, multi.templates, strict=True)):
        if t == single.n_stages - 1:
            assert template is base
            continue
        n_open = single.templates[t + 1].n_openings
        assert template.num_cols == base.num_cols + n_open and template.num_rows == base.num_rows + 1
        assert np.array_equal(template.cut_cols, base.num_cols + np.arange(n_open))
        assert np.array_equal(template.cut_weights, single.templates[t + 1].probabilities)
        dense = template.dense_matrix()
        assert np.array_equal(dense[: base.num_rows, : base.num_cols], base.dense_matrix())
        link = dense[base.num_rows]  # theta - sum_o p_o theta_o = 0
        assert link[template.theta_col] == 1.0
        assert np.array_equal(link[template.cut_cols], -template.cut_weights)
        assert np.count_nonzero(link) == n_open + 1
        assert template.row_lower[-1] == template.row_upper[-1] == 0.0
        assert np.all(template.col_lower[template.cut_cols] == base.col_lower[base.theta_col])
        assert np.all(template.col_cost[template.cut_cols] == 0.0)
        assert template.col_cost[template.theta_col] == base.discount


def test_each_cut_puts_its_one_in_its_targets_column():
    template = random_problem(SPECS[0]).compile().with_multi_cut().templates[1]
    rng = np.random.default_rng(0)
    n_cuts, n_states = 9, template.n_states
    targets = rng.integers(0, template.n_targets, n_cuts)
    intercepts, coefficients = rng.normal(size=n_cuts), rng.normal(size=(n_cuts, n_states))
    lp = assemble_stage_lp(template, intercepts, coefficients, np.arange(n_cuts), 1, targets)
    dense = np.zeros((lp.num_rows, lp.num_cols))
    for j in range(lp.num_cols):
        lo, hi = lp.col_start[j], lp.col_start[j + 1]
        dense[lp.row_index[lo:hi], j] = lp.values[lo:hi]
    cuts = dense[template.num_rows :]
    expected = np.zeros((n_cuts, lp.num_cols))
    expected[np.arange(n_cuts), template.cut_cols[targets]] = 1.0
    expected[:, template.state_out_cols] = -coefficients
    assert np.array_equal(cuts, expected)
    assert np.array_equal(lp.row_lower[template.num_rows :], intercepts)
    with pytest.raises(ValueError, match="cut targets"):
        assemble_stage_lp(template, intercepts, coefficients, np.arange(n_cuts), 1, targets + template.n_targets)


# -- the bound ----------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"seed{s.seed}")
def test_bound_reaches_the_deterministic_equivalent_and_never_exceeds_it(spec):
    problem = random_problem(spec)
    exact = deterministic_optimum(problem)
    sign = 1.0 if spec.sense == "min" else -1.0
    multi = caudal.train(problem, iterations=40, forward_passes=3, seed=2, multi_cut=True)
    single = caudal.train(problem, iterations=120, forward_passes=3, seed=2)
    tolerance = 1e-6 * max(1.0, abs(exact))
    assert multi.lower_bound == pytest.approx(exact, abs=tolerance)
    assert single.lower_bound == pytest.approx(multi.lower_bound, abs=tolerance)
    assert all(sign * r.lower_bound <= sign * exact + tolerance for r in multi.history)
    n_passes = 3 * 40
    expected_cuts = sum(n_passes * spec.openings[t + 1] for t in range(spec.stages - 1))
    assert multi.policy.n_cuts == expected_cuts


def test_first_steps_with_the_native_and_the_reference_solver():
    exact = deterministic_optimum(first_steps())
    for solver in ("native", "highspy"):
        result = caudal.train(first_steps(), iterations=10, forward_passes=2, multi_cut=True, solver=solver)
        assert result.lower_bound == pytest.approx(exact, rel=1e-9)


def test_multi_cut_bound_is_at_least_single_cut_bound_early():
    """Same scenarios, same trial states at iteration 1: per-opening cuts are at least their average."""
    problem = random_problem(SPECS[1])
    multi = caudal.train(problem, iterations=1, forward_passes=4, seed=7, multi_cut=True)
    single = caudal.train(problem, iterations=1, forward_passes=4, seed=7)
    assert multi.lower_bound >= single.lower_bound - 1e-9


def test_policy_value_function_is_the_weighted_sum_of_the_openings():
    problem = random_problem(SPECS[0])
    result = caudal.train(problem, iterations=5, forward_passes=2, multi_cut=True)
    policy = result.policy
    template = policy.problem.templates[0]
    states = np.array([[1.0, 2.0], [5.0, 0.5]])
    pool = policy.cut_pools[0]
    per_opening = np.stack([pool.evaluate(states, g) for g in range(template.n_targets)], axis=1)
    floors = template.col_lower[template.cut_cols]
    assert np.allclose(policy.cost_to_go(0, states), np.maximum(per_opening, floors) @ template.cut_weights)


def test_risk_measures_are_refused_with_the_reason():
    problem = random_problem(SPECS[0])
    for measure in (CVaR(0.5), EAVaR(0.5, 0.2), [caudal.Expectation(), CVaR(0.3), caudal.Expectation()]):
        with pytest.raises(ValueError, match="multi_cut=True needs the expectation"):
            caudal.train(problem, iterations=2, risk_measure=measure, multi_cut=True)
    with pytest.raises(ValueError, match="single-cut layout; use problem.with_multi_cut"):
        run_training(TrainingState.fresh(problem.compile()), new_pool(), TrainingOptions(2, multi_cut=True))


# -- cut selection --------------------------------------------------------------


def _pool_with_targets(rng: np.random.Generator, n_cuts: int, n_states: int, n_targets: int) -> CutPool:
    pool = CutPool(n_states)
    pool.add(rng.normal(size=n_cuts), rng.normal(size=(n_cuts, n_states)), 0, np.arange(n_cuts),
             rng.integers(0, n_targets, n_cuts))
    return pool


@pytest.mark.parametrize("seed", range(4))
def test_selection_keeps_every_targets_maximum_at_every_visited_state(seed):
    rng = np.random.default_rng(seed)
    pool = _pool_with_targets(rng, 300, 3, 4)
    visited = rng.normal(size=(40, 3))
    active = Level1().select(0, pool, visited)
    assert 0 < active.sum() < pool.size
    for g in range(4):
        group = pool.targets == g
        every = cut_values(pool.intercepts[group], pool.coefficients[group], visited).max(axis=1)
        kept = group & active
        assert kept.any()
        assert np.array_equal(every, cut_values(pool.intercepts[kept], pool.coefficients[kept], visited).max(axis=1))


def test_limited_memory_level1_matches_level1_per_target():
    rng = np.random.default_rng(11)
    exact, incremental = Level1(), LimitedMemoryLevel1()
    pool = CutPool(2)
    visited = np.empty((0, 2))
    for step in range(10):
        pool.add(rng.normal(size=6), rng.normal(size=(6, 2)), step, np.repeat(np.arange(2), 3), np.tile([0, 1, 2], 2))
        visited = np.vstack((visited, rng.normal(size=(2, 2))))
        assert np.array_equal(exact.select(0, pool, visited), incremental.select(0, pool, visited))


@pytest.mark.parametrize("selection", [Level1, LimitedMemoryLevel1])
def test_training_with_selection_reaches_the_same_bound(selection):
    problem = random_problem(SPECS[1])
    exact = deterministic_optimum(problem)
    result = caudal.train(problem, iterations=40, forward_passes=3, multi_cut=True, cut_selection=selection())
    assert result.lower_bound == pytest.approx(exact, abs=1e-6 * abs(exact))
    assert all(r.lower_bound <= exact + 1e-6 * abs(exact) for r in result.history)
    assert sum(int(p.active.sum()) for p in result.policy.cut_pools) < result.policy.n_cuts


# -- checkpoints ----------------------------------------------------------------

K = 4
OPTIONS = TrainingOptions(iterations=2 * K, forward_passes=3, seed=5, multi_cut=True)


@pytest.fixture(scope="module")
def reservoirs():
    return two_reservoirs().with_multi_cut()


def test_checkpoint_keeps_the_targets(tmp_path, reservoirs):
    state = trained_state(reservoirs, OPTIONS)
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, OPTIONS))
    for saved, pool in zip(checkpoint.cut_pools, state.pools, strict=True):
        assert np.array_equal(saved.target, pool.targets)
    assert checkpoint.options.extra["multi_cut"] == "True"
    table = cuts_table(checkpoint)
    assert table.column_names.index("target") == table.column_names.index("active") + 1
    assert np.array_equal(table["target"].to_numpy(), np.concatenate([p.targets for p in state.pools]))


def test_single_cut_checkpoints_and_fingerprints_are_as_before(tmp_path):
    """No target vector in the file and no multi_cut in the options hash: older checkpoints still resume."""
    single = dataclasses.replace(OPTIONS, multi_cut=False)
    assert "multi_cut" not in policy_options(single)
    assert "multi_cut" in policy_options(OPTIONS)
    assert options_fingerprint(single) != options_fingerprint(OPTIONS)
    problem = two_reservoirs()
    state = trained_state(problem, dataclasses.replace(single, iterations=2))
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, single))
    assert all(not saved.target.any() for saved in checkpoint.cut_pools)
    assert "target" not in cuts_table(checkpoint).column_names


BEFORE_MULTICUT = Path(__file__).parent / "data" / "checkpoint_before_multicut"
"""A checkpoint written by caudal before multi-cut existed: first_steps, 3 iterations of
TrainingOptions(iterations=3, forward_passes=2, seed=3, cut_selection=Level1()), highspy solver."""


def test_a_checkpoint_written_before_multi_cut_still_resumes_exactly(tmp_path):
    """The old file (no cut targets) restores to what today's writer saves of it, and training goes on alike.

    It is not compared with a fresh run of today's code: the solver's path (warm
    starts, pricing) has changed since the file was written, and first_steps has
    ties, so its first iterations need not be the ones in the file.
    """
    problem = first_steps().compile()

    def options(iterations: int) -> TrainingOptions:  # opening_chunk=0: the file's run, before the default split
        return TrainingOptions(iterations=iterations, forward_passes=2, seed=3, cut_selection=Level1(), opening_chunk=0)

    checkpoint = read_checkpoint(BEFORE_MULTICUT / "checkpoint-00000003.caudal")
    assert all(not saved.target.any() for saved in checkpoint.cut_pools)
    resumed = restore_state(checkpoint, problem, options(6))
    rewritten_file = write_checkpoint(tmp_path, restore_state(checkpoint, problem, options(3)), options(3))
    rewritten = restore_state(read_checkpoint(rewritten_file), problem, options(6))
    assert_same_state(rewritten, resumed, compare_times=False)
    run_training(resumed, new_pool(), options(6))
    run_training(rewritten, new_pool(), options(6))
    assert resumed.iteration == 6
    assert_same_state(rewritten, resumed, compare_times=False)


@pytest.mark.parametrize("selection", [None, Level1, LimitedMemoryLevel1])
def test_resume_is_bit_identical(tmp_path, reservoirs, selection):
    def options_for(iterations: int) -> TrainingOptions:  # a selection keeps working memory: one per process
        return dataclasses.replace(
            OPTIONS, iterations=iterations, cut_selection=selection(max_active=20) if selection else None
        )

    straight = trained_state(reservoirs, options_for(2 * K))
    first_half = trained_state(reservoirs, options_for(K))
    write_checkpoint(tmp_path, first_half, options_for(K))
    path, _ = latest_valid(tmp_path)
    del first_half
    resumed = restore_state(read_checkpoint(path), two_reservoirs().with_multi_cut(), options_for(2 * K))
    run_training(resumed, new_pool(), options_for(2 * K))
    assert_same_state(straight, resumed, compare_times=False)
    for a, b in zip(straight.pools, resumed.pools, strict=True):
        assert a.targets.tobytes() == b.targets.tobytes()
    if selection is not None:
        assert any(not pool.active.all() for pool in straight.pools)


def test_resume_that_flips_multi_cut_is_refused(tmp_path, reservoirs):
    state = trained_state(reservoirs, dataclasses.replace(OPTIONS, iterations=2))
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, OPTIONS))
    single = dataclasses.replace(OPTIONS, multi_cut=False)
    with pytest.raises(CheckpointError) as caught:
        restore_state(checkpoint, two_reservoirs(), single)
    message = str(caught.value)
    assert "multi_cut was True in the checkpoint, is False now" in message
    assert "case fingerprint mismatch" not in message  # the layout is an option, not other data


def test_a_multi_cut_policy_simulates_from_a_problem_compiled_afresh(tmp_path, reservoirs):
    state = trained_state(reservoirs, dataclasses.replace(OPTIONS, iterations=3))
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, OPTIONS))
    fresh = two_reservoirs()
    policy = Policy(fresh, restore_pools(checkpoint, fresh))
    assert policy.problem.multi_cut
    assert policy.digest() == Policy(reservoirs, state.pools).digest()
    result = caudal.simulate(policy, scenarios=6, seed=1, threads=1)
    assert np.all(np.isfinite(result.stage_costs)) and np.all(np.isfinite(result.future_costs))
    # the future cost simulated at stage 0 is the policy's value function at the outgoing state
    states = result.states[:, 0, :]
    discount = fresh.templates[0].discount
    assert np.allclose(result.future_costs[:, 0], discount * policy.cost_to_go(0, states), rtol=1e-7, atol=1e-6)


# -- layouts under mpiexec ----------------------------------------------------------


MPI_ARGS = ("--stages", "3", "--iterations", "3", "--forward-passes", "5", "--multi-cut")


def _bound_columns(rows: list[str]) -> list[str]:
    """The convergence rows without the timing column (which differs run to run)."""
    return [",".join(row.split(",")[:5] + row.split(",")[6:]) for row in rows]


@pytest.fixture(scope="module")
def mpi_reference(tmp_path_factory):
    return train_ranks(1, 1, "brazil4", tmp_path_factory.mktemp("multicut_ref"), *MPI_ARGS)


@pytest.mark.parametrize("ranks,threads", [(1, 2), (2, 1), (2, 2)])
@pytest.mark.mpi
def test_same_multi_cut_policy_whatever_the_layout(mpi_reference, tmp_path, ranks, threads):
    summary = train_ranks(ranks, threads, "brazil4", tmp_path, *MPI_ARGS)
    assert summary["cuts"] == mpi_reference["cuts"] == 2 * 3 * 5 * 82  # stages 0, 1 x iterations x passes x openings
    assert summary["policy_digest"] == mpi_reference["policy_digest"]
    assert _bound_columns(summary["convergence"]) == _bound_columns(mpi_reference["convergence"])
