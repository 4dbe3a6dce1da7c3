"""A trial state split in two: the forward opening's head first, then two walks from its basis, on any layout."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hydro_problems import infeasible_in_opening, random_hydro

import caudal
from caudal.parallel.threads import ThreadPool
from caudal.sddp.cuts import CutPool
from caudal.sddp.opening_order import chain_orders, opening_tour, two_way_orders
from caudal.sddp.passes import backward_stage, forked_spans
from caudal.sddp.stage_cache import StageCache
from caudal.sddp.training import TrainingState
from caudal.solver.highspy_workspace import HighspyWorkspace
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NativeWorkspace
from caudal.solver.workspace import FORK_FAILED, FORK_HEAD_BASIS, FORK_OWN_START, Basis, ForkPoint, SolverError

needs_native = pytest.mark.skipif(not NATIVE_AVAILABLE, reason="native extension not built")


def test_the_two_walks_start_next_to_the_forward_opening() -> None:
    tour = np.array([0, 4, 2, 6, 1, 5, 3], dtype=np.int32)
    orders = chain_orders(tour, np.array([2, 0]))
    spans = forked_spans(7)
    assert spans == [(0, 4), (4, 7)]  # the head and the onward walk, then the backward walk
    forked = two_way_orders(orders, spans[1][0])
    for row, forward_opening in zip(forked, (2, 0), strict=True):
        assert sorted(row) == list(range(7))  # still every opening once
        at = int(np.flatnonzero(tour == forward_opening)[0])
        assert row[0] == forward_opening  # the head
        assert row[1] == tour[(at + 1) % 7]  # the first walk: onward along the tour
        assert row[4] == tour[(at - 1) % 7]  # the second walk: backward, from the predecessor
        assert list(row[4:]) == [tour[(at - j) % 7] for j in range(1, 4)]


@needs_native
@pytest.mark.parametrize("passes", [1, 2])
def test_forked_split_gives_bit_identical_cuts_on_one_and_two_threads(passes: int) -> None:
    def run(threads: int, chunk: int | str) -> caudal.TrainingResult:
        return caudal.train(random_hydro(3, 5, 12, seed=5), iterations=5, forward_passes=passes, seed=2,
                            threads=threads, solver="native", opening_chunk=chunk)

    one, two, whole = run(1, "auto"), run(2, "auto"), run(1, 0)
    for mine, theirs in zip(one.policy.cut_pools, two.policy.cut_pools, strict=True):
        assert np.array_equal(mine.intercepts, theirs.intercepts)
        assert np.array_equal(mine.coefficients, theirs.coefficients)
    assert [r.lower_bound for r in one.history] == [r.lower_bound for r in two.history]
    for count in ("solves", "simplex_iterations"):
        assert one.solver_stats[count] == two.solver_stats[count]
    # the walks restart from the head's basis: not the unsplit run's path, so the comparison above is a split one
    assert one.solver_stats["simplex_iterations"] != whole.solver_stats["simplex_iterations"]
    # every opening's value is its LP's optimum whatever the path: the first iteration's bound is the unsplit one
    assert one.history[0].lower_bound == pytest.approx(whole.history[0].lower_bound, rel=1e-9)


class FailingHead:
    """A workspace whose head items fail late enough for the other worker to wait on them."""

    def solve_backward(self, lp, basis, incoming, trial_id, out_values, out_subgradients, out_basis, order=None,
                       first=0, stop=None, publish=None, after=None) -> bool:
        if after is not None:
            return after.wait(basis) is not None
        threading.Event().wait(0.2)
        raise RuntimeError(f"head of trial state {trial_id} failed")


def test_a_failed_head_raises_its_error_and_leaves_no_walk_waiting() -> None:
    problem = random_hydro(3, 5, 12, seed=5).compile()
    cache = TrainingState.fresh(problem).cache
    template = problem.templates[1]
    orders = chain_orders(opening_tour(template), np.array([3, 7]))
    outcome: list[BaseException] = []

    def backward() -> None:
        with ThreadPool(2, lambda node: FailingHead(), "fake", caller_works=True) as pool:
            try:
                backward_stage(cache, pool, 1, np.zeros((2, problem.n_states)), orders=orders, opening_chunk="auto")
            except RuntimeError as error:
                outcome.append(error)

    runner = threading.Thread(target=backward, daemon=True)
    runner.start()
    runner.join(timeout=10)
    assert not runner.is_alive(), "a walk waited for a head that had failed"
    assert [str(error) for error in outcome] == ["head of trial state 0 failed"]


@pytest.fixture(scope="module")
def trained() -> StageCache:
    result = caudal.train(random_hydro(3, 5, 12, seed=5), iterations=4, forward_passes=2, seed=2, threads=1)
    return StageCache(result.policy.problem, result.policy.cut_pools)


def workspaces() -> list:
    return [NativeWorkspace, HighspyWorkspace] if NATIVE_AVAILABLE else [HighspyWorkspace]


@pytest.mark.parametrize("make", workspaces(), ids=lambda make: make.__name__)
def test_a_walk_after_a_fork_point_solves_as_a_whole_item_from_the_heads_basis(trained, make) -> None:
    """The head publishes the basis of its first opening and walks on; the walk waits for it and starts there."""
    t, lp = 2, trained.lps[2]
    n_open, state = lp.template.n_openings, np.full(trained.problem.n_states, 60.0)
    order = np.roll(np.arange(n_open, dtype=np.int32), 3)
    ahead = forked_spans(n_open)[1][0]
    fork = ForkPoint(lp)
    values, subgradients = np.full(n_open, np.nan), np.full((n_open, state.shape[0]), np.nan)
    walker, head = make(), make()
    walk = threading.Thread(target=lambda: walker.solve_backward(
        lp, trained.bases[t], state, 0, values, subgradients, None, order, ahead, n_open, after=fork))
    walk.start()  # it waits for the head
    assert head.solve_backward(lp, trained.bases[t], state, 0, values, subgradients, None, order, 0, ahead,
                               publish=fork) is True
    walk.join(timeout=30)
    assert not walk.is_alive()
    assert fork.signal[0] == FORK_HEAD_BASIS  # no reserve cut entered here: the head's basis is complete
    # the head's first opening alone, from the same start, ends at the basis it published
    alone = Basis(np.empty(lp.num_cols, np.uint8), np.empty(lp.num_rows, np.uint8))
    first_value = np.empty(n_open)
    make().solve_backward(lp, trained.bases[t], state, 0, first_value, np.empty_like(subgradients), alone, order, 0, 1)
    assert np.array_equal(fork.status, np.concatenate([alone.col_status, alone.row_status]))
    assert not np.array_equal(fork.status, np.concatenate([trained.bases[t].col_status, trained.bases[t].row_status]))
    # the walk's openings are those of a whole item started from that basis
    again, again_sub = np.full(n_open, np.nan), np.full_like(subgradients, np.nan)
    make().solve_backward(lp, fork.basis, state, 0, again, again_sub, None, order, ahead, n_open)
    walked = order[ahead:]
    assert np.array_equal(values[walked], again[walked]) and np.array_equal(subgradients[walked], again_sub[walked])
    assert not np.isnan(values).any()


@pytest.mark.parametrize("make", workspaces(), ids=lambda make: make.__name__)
def test_a_head_failing_in_the_solver_releases_its_walk(make) -> None:
    problem = infeasible_in_opening(stage_index=1, opening=2).compile()
    cache = StageCache(problem, [CutPool(problem.n_states) for _ in range(problem.n_stages)])
    lp, state = cache.lps[1], np.array([100.0])
    order = np.array([2, 0, 1], dtype=np.int32)  # the head is the infeasible opening
    fork = ForkPoint(lp)
    values = np.full(3, np.nan)
    walked: list[bool] = []
    walk = threading.Thread(target=lambda: walked.append(make().solve_backward(
        lp, cache.bases[1], state, 0, values, np.empty((3, 1)), None, order, 2, 3, after=fork)))
    walk.start()
    with pytest.raises(SolverError, match="stage 1, opening 2"):
        make().solve_backward(lp, cache.bases[1], state, 0, values, np.empty((3, 1)), None, order, 0, 2,
                              publish=fork)
    walk.join(timeout=30)
    assert walked == [False] and fork.signal[0] == FORK_FAILED
    assert np.isnan(values).all()  # the walk solved nothing


@needs_native
def test_a_fork_point_of_another_shape_is_refused(trained) -> None:
    lp = trained.lps[2]
    fork = ForkPoint(lp)
    fork.status = fork.status[:-1]  # one row short
    with pytest.raises(ValueError, match="stage 2: the fork point does not have the LP's shape"):
        NativeWorkspace().solve_backward(lp, trained.bases[2], np.zeros(trained.problem.n_states), 0,
                                         np.empty(12), np.empty((12, trained.problem.n_states)), None,
                                         publish=fork)


@needs_native
def test_the_bound_forks_like_a_trial_state_on_one_and_two_threads() -> None:
    def run(threads: int) -> caudal.TrainingResult:
        return caudal.train(random_hydro(3, 5, 12, seed=5), iterations=4, forward_passes=1, seed=2,
                            threads=threads, solver="native", opening_chunk="auto")

    one, two = run(1), run(2)
    assert [r.lower_bound for r in one.history] == [r.lower_bound for r in two.history]
    assert one.solver_stats["solves"] == two.solver_stats["solves"]
    assert two.solver_stats["time_wait"] >= 0


@pytest.mark.parametrize("make", workspaces(), ids=lambda make: make.__name__)
def test_a_head_of_no_opening_lets_its_walk_start_from_its_own_basis(trained, make) -> None:
    t, lp = 2, trained.lps[2]
    n_open, state = lp.template.n_openings, np.full(trained.problem.n_states, 60.0)
    fork = ForkPoint(lp)
    values, subgradients = np.full(n_open, np.nan), np.full((n_open, state.shape[0]), np.nan)
    assert make().solve_backward(lp, trained.bases[t], state, 0, values, subgradients, None, None, 0, 0,
                                 publish=fork) is True
    assert fork.signal[0] == FORK_OWN_START and np.isnan(values).all()
    assert make().solve_backward(lp, trained.bases[t], state, 0, values, subgradients, None, None, 0, n_open,
                                 after=fork) is True
    whole = np.full(n_open, np.nan)
    make().solve_backward(lp, trained.bases[t], state, 0, whole, np.empty_like(subgradients), None)
    assert np.array_equal(values, whole)
