"""Openings the kept basis answers: the values and subgradients a solve gives.

Within a backward work item, when the optimal basis of the last opening solved
stays primal feasible under the next opening's bounds, or becomes so in a few
dual simplex pivots, the workspaces answer that opening from it (solves with
the kept factorisation) instead of running HiGHS. These tests compare every
such answer with a workspace that solves every opening, on LPs whose openings
move fixed rows, inequality rows, column bounds, and a column that is fixed in
some openings and free to move in others (where the kept basis must be
refused), and check that the kernel and the highspy reference pivot alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hydro_problems import add_reservoir, random_hydro

import caudal
from caudal.model.stage_lp import ReserveCuts, assemble_stage_lp
from caudal.sddp.stage_cache import StageCache, next_version
from caudal.solver import kept_basis
from caudal.solver.highspy_workspace import HighspyWorkspace
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NativeWorkspace
from caudal.solver.workspace import Basis

WORKSPACES = [HighspyWorkspace] + ([NativeWorkspace] if NATIVE_AVAILABLE else [])


def moving_bounds(stages: int = 4, openings: int = 8, seed: int = 0) -> caudal.Problem:
    """Two reservoirs whose openings move an equality row, an inequality row and three kinds of column bound."""
    rng = np.random.default_rng(seed)
    problem = caudal.Problem(name="moving bounds")
    for t in range(stages):
        stage = problem.add_stage()
        supply = {add_reservoir(stage, r, rng.uniform(0, 120, openings).round(1)): 1.0 for r in range(2)}
        # an inequality row whose right-hand side moves: irrigation takes at most this much from reservoir 0
        irrigation = stage.add_variable("irrigation", upper=40, cost=-5.0)
        limit = stage.add_uncertain("irrigation_limit", rng.uniform(10, 60, openings).round(1))
        hydro0 = next(iter(supply))
        stage.add_constraint({irrigation: 1, hydro0: 0.2}, "<=", limit)
        # a column whose upper bound moves, one whose two bounds move, fixed in some openings
        availability = stage.add_uncertain("availability", rng.uniform(30, 90, openings).round(1))
        must_low = rng.uniform(0, 20, openings).round(1)
        must_high = np.where(np.arange(openings) % 3 == 0, must_low, must_low + rng.uniform(5, 25, openings).round(1))
        must_run = stage.add_variable(
            "must_run", lower=stage.add_uncertain("must_low", must_low),
            upper=stage.add_uncertain("must_high", must_high), cost=35.0,
        )
        supply[stage.add_variable("thermal", upper=availability, cost=20.0 * (1 + 0.1 * t))] = 1.0
        supply[must_run] = 1.0
        supply[stage.add_variable("deficit", cost=1000.0)] = 1.0
        stage.add_constraint(supply, "==", 160.0)
    return problem


@pytest.fixture(scope="module", params=["moving bounds", "random hydro"])
def trained(request) -> StageCache:
    problem = moving_bounds() if request.param == "moving bounds" else random_hydro(3, 4, 8, seed=7)
    result = caudal.train(problem, iterations=8, forward_passes=3, seed=1, threads=1)
    return StageCache(result.policy.problem, result.policy.cut_pools)


def solve_openings(ws, lp, basis: Basis, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n_open = lp.template.n_openings
    values, subgradients = np.empty(n_open), np.empty((n_open, state.shape[0]))
    ws.solve_backward(lp, basis, state, 0, values, subgradients, None)
    return values, subgradients


def states_of(cache: StageCache, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 200, (n, cache.problem.n_states))


@pytest.mark.parametrize("make", WORKSPACES, ids=lambda w: w.__name__)
def test_ranged_openings_give_the_values_of_solved_ones(trained: StageCache, make) -> None:
    ranging, solving = make(), make()
    solving.ranging = False
    for t in range(1, trained.problem.n_stages):
        for state in states_of(trained, 6, seed=t):
            got = solve_openings(ranging, trained.lps[t], trained.bases[t], state)
            want = solve_openings(solving, trained.lps[t], trained.bases[t], state)
            np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-7)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-9)
    assert ranging.stats.ranged > 0, "no opening was ranged: the test would pass without ranging"
    assert solving.stats.ranged == 0
    assert ranging.stats.solves + ranging.stats.ranged == solving.stats.solves


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="native extension not built")
def test_the_kernel_and_the_reference_range_the_same_openings(trained: StageCache) -> None:
    """Both take the same decisions, so HiGHS sees the same calls and both end at the same vertices."""
    native, reference = NativeWorkspace(), HighspyWorkspace()
    for t in range(1, trained.problem.n_stages):
        for state in states_of(trained, 4, seed=10 + t):
            got = solve_openings(native, trained.lps[t], trained.bases[t], state)
            want = solve_openings(reference, trained.lps[t], trained.bases[t], state)
            np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-7)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-9)
    assert native.stats.ranged > 0
    assert (native.stats.ranged, native.stats.solves, native.stats.simplex_iterations) == (
        reference.stats.ranged, reference.stats.solves, reference.stats.simplex_iterations)


@contextmanager
def kept_pivots(make, pivots: int) -> Iterator[None]:
    """Let ``make``'s workspaces take at most ``pivots`` dual pivots per opening on the kept basis."""
    if make is HighspyWorkspace:
        old, kept_basis.KEPT_PIVOTS = kept_basis.KEPT_PIVOTS, pivots
        try:
            yield
        finally:
            kept_basis.KEPT_PIVOTS = old
    else:
        from caudal import _native

        old = _native.set_kept_pivots(pivots)
        try:
            yield
        finally:
            _native.set_kept_pivots(old)


@pytest.mark.parametrize("make", WORKSPACES, ids=lambda w: w.__name__)
def test_dual_pivots_answer_openings_the_kept_basis_alone_does_not(trained: StageCache, make) -> None:
    """With pivots, more openings are answered without HiGHS, each with the value a solve gives (test above)."""
    answered = []
    for pivots in (0, kept_basis.KEPT_PIVOTS):
        with kept_pivots(make, pivots):
            ws = make()
            for t in range(1, trained.problem.n_stages):
                for state in states_of(trained, 6, seed=t):
                    solve_openings(ws, trained.lps[t], trained.bases[t], state)
        answered.append(ws.stats.ranged)
    assert answered[1] > answered[0] > 0


@pytest.mark.parametrize("make", WORKSPACES, ids=lambda w: w.__name__)
def test_a_reserve_cut_that_cuts_the_kept_vertex_off_is_added(make) -> None:
    """With one cut as a row and the rest in reserve, ranged openings still give the LP with every cut's values."""
    result = caudal.train(random_hydro(3, 5, 8, seed=5), iterations=12, forward_passes=4, seed=2, threads=1)
    cache = StageCache(result.policy.problem, result.policy.cut_pools)
    ws, cuts_added = make(), 0
    for t in range(1, cache.problem.n_stages):
        full, pool = cache.lps[t], cache.pools[t]
        ids = full.cut_ids
        rows = ids[:1]
        lazy = assemble_stage_lp(
            full.template, pool.intercepts[rows], pool.coefficients[rows], rows, next_version(), pool.targets[rows],
            ReserveCuts(ids[1:], pool.intercepts, pool.coefficients, pool.targets),
        )
        for state in states_of(cache, 4, seed=t):
            before = ws.stats.cuts_added
            got = solve_openings(ws, lazy, Basis.slack(lazy), state)
            cuts_added += ws.stats.cuts_added - before
            want = solve_openings(make(), full, Basis.slack(full), state)
            np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-7)
    assert ws.stats.ranged > 0 and cuts_added > 0



def test_an_item_that_never_hits_stops_ranging_after_its_patience(monkeypatch) -> None:
    """Without a hit a work item checks RANGING_PATIENCE openings and no more; with hits it checks them all."""
    from caudal.solver import highspy_workspace

    result = caudal.train(random_hydro(3, 3, 14, seed=2), iterations=3, forward_passes=2, seed=1, threads=1)
    cache = StageCache(result.policy.problem, result.policy.cut_pools)
    lp, basis, state = cache.lps[1], cache.bases[1], states_of(cache, 1, seed=0)[0]
    n_open = lp.template.n_openings
    assert n_open - 1 > highspy_workspace.RANGING_PATIENCE
    checked: list[int] = []
    original = HighspyWorkspace._kept_answer

    def never_optimal(self, lp, kept, opening, may_pivot):
        checked.append(opening)
        return False

    def counted(self, lp, kept, opening, may_pivot):
        checked.append(opening)
        return original(self, lp, kept, opening, may_pivot)

    monkeypatch.setattr(HighspyWorkspace, "_kept_answer", never_optimal)
    solve_openings(HighspyWorkspace(), lp, basis, state)
    assert len(checked) == highspy_workspace.RANGING_PATIENCE
    monkeypatch.setattr(HighspyWorkspace, "_kept_answer", counted)
    monkeypatch.setattr(highspy_workspace, "RANGING_PATIENCE", n_open)
    checked.clear()
    solve_openings(HighspyWorkspace(), lp, basis, state)
    assert len(checked) == n_open - 1
