"""A trial state split in two: the forward opening's head first, then two walks from its basis, on any layout."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hydro_problems import random_hydro

import caudal
from caudal.parallel.threads import ThreadPool
from caudal.sddp.opening_order import chain_orders, opening_tour, two_way_orders
from caudal.sddp.passes import backward_stage, forked_spans
from caudal.sddp.training import TrainingState
from caudal.solver.native_workspace import NATIVE_AVAILABLE

needs_native = pytest.mark.skipif(not NATIVE_AVAILABLE, reason="native extension not built")


def test_the_two_walks_start_next_to_the_forward_opening() -> None:
    tour = np.array([0, 4, 2, 6, 1, 5, 3], dtype=np.int32)
    orders = chain_orders(tour, np.array([2, 0]))
    spans = forked_spans(7)
    assert spans == [(0, 1), (1, 4), (4, 7)]
    forked = two_way_orders(orders, spans[1][1])
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
    """A workspace whose head items (position 0) fail late enough for the other worker to wait on them."""

    def solve_backward(self, lp, basis, incoming, trial_id, out_values, out_subgradients, out_basis, order=None,
                       first=0, stop=None) -> None:
        threading.Event().wait(0.2 if first == 0 else 0.01)
        if first == 0:
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
