"""Working sets: a stage LP with reserve cuts solves like the LP with every cut as a row."""

from __future__ import annotations

import numpy as np
import pytest
from hydro_problems import random_hydro

import caudal
from caudal.model.stage_lp import ReserveCuts, StageLP, assemble_stage_lp
from caudal.parallel.pool import SerialPool
from caudal.sddp.cuts import CutPool, StateArchive
from caudal.sddp.stage_cache import StageCache, next_version
from caudal.sddp.training import TrainingOptions, TrainingState, run_training
from caudal.sddp.working_set import WorkingSets
from caudal.solver.highspy_workspace import HighspyWorkspace
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NativeWorkspace
from caudal.solver.workspace import Basis

WORKSPACES = [HighspyWorkspace] + ([NativeWorkspace] if NATIVE_AVAILABLE else [])


@pytest.fixture(scope="module")
def trained() -> StageCache:
    """Every active cut as a row, after a training long enough to pile up cuts."""
    result = caudal.train(random_hydro(3, 5, 6, seed=5), iterations=12, forward_passes=4, seed=2, threads=1)
    return StageCache(result.policy.problem, result.policy.cut_pools)


def with_reserve(full: StageLP, pool: CutPool, n_rows: int) -> tuple[StageLP, StageLP]:
    """``full``'s cuts split: the first ``n_rows`` as rows, the rest in reserve; and the rows alone, no reserve."""
    ids = full.cut_ids
    rows, rest = ids[:n_rows], ids[n_rows:]
    reserve = ReserveCuts(rest, pool.intercepts, pool.coefficients, pool.targets)
    build = [full.template, pool.intercepts[rows], pool.coefficients[rows], rows, next_version(), pool.targets[rows]]
    return assemble_stage_lp(*build, reserve), assemble_stage_lp(*build)


def backward(ws, lp: StageLP, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n_open = lp.template.n_openings
    values, subgradients = np.empty(n_open), np.empty((n_open, state.shape[0]))
    ws.solve_backward(lp, Basis.slack(lp), state, 0, values, subgradients, Basis.slack(lp))
    return values, subgradients


def forward(ws, lp: StageLP, states: np.ndarray) -> tuple[np.ndarray, ...]:
    k = states.shape[0]
    openings = (np.arange(k) % lp.template.n_openings).astype(np.int32)
    out = np.empty_like(states), np.empty(k), np.empty(k)
    bases = np.empty((k, lp.num_cols + lp.num_rows), dtype=np.uint8)
    ws.solve_forward(lp, Basis.slack(lp), states, openings, np.arange(k, dtype=np.int64), *out, bases)
    return (*out, bases)


@pytest.mark.parametrize("make_workspace", WORKSPACES, ids=lambda w: w.__name__)
def test_reserve_cuts_give_the_values_of_the_lp_with_every_cut(trained: StageCache, make_workspace) -> None:
    rng = np.random.default_rng(0)
    ws, reference = make_workspace(), make_workspace()
    binding_somewhere = False
    for t in range(1, trained.problem.n_stages - 1):
        full = trained.lps[t]
        lazy, rows_only = with_reserve(full, trained.pools[t], n_rows=1)
        states = rng.uniform(0, 200, (4, trained.problem.n_states))
        for state in states:
            want = backward(reference, full, state)[0]
            np.testing.assert_allclose(backward(ws, lazy, state)[0], want, rtol=1e-9, atol=1e-9)
            binding_somewhere |= bool(np.any(backward(reference, rows_only, state)[0] < want * (1 - 1e-6)))
        got, want = forward(ws, lazy, states), forward(reference, full, states)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-9)  # objective
        np.testing.assert_allclose(got[2], want[2], rtol=1e-9, atol=1e-9)  # cost-to-go
        assert got[3].shape == (states.shape[0], lazy.num_cols + lazy.num_rows)
    assert binding_somewhere, "the reserve cuts never mattered: the test would pass with the reserve ignored"
    assert ws.stats.cuts_added > 0


@pytest.mark.parametrize("make_workspace", WORKSPACES, ids=lambda w: w.__name__)
def test_added_cuts_leave_with_the_work_item(trained: StageCache, make_workspace) -> None:
    """A work item gives the same bits on a fresh workspace and after items that added reserve cuts."""
    t = 2
    lazy, _ = with_reserve(trained.lps[t], trained.pools[t], n_rows=1)
    states = np.random.default_rng(1).uniform(0, 200, (5, trained.problem.n_states))
    used = make_workspace()
    for state in states:
        backward(used, lazy, state)
        forward(used, lazy, states)
    assert used.stats.cuts_added > 0
    for state in states:
        for fresh, again in zip(backward(make_workspace(), lazy, state), backward(used, lazy, state), strict=True):
            assert np.array_equal(fresh, again)
    for fresh, again in zip(forward(make_workspace(), lazy, states), forward(used, lazy, states), strict=True):
        assert np.array_equal(fresh, again)


def test_working_sets_hold_the_highest_cut_at_every_visited_state() -> None:
    rng = np.random.default_rng(4)
    pool = CutPool(2)
    pool.add(rng.normal(size=60), rng.normal(size=(60, 2)), 0, np.arange(60))
    pool.set_active(np.arange(60) != 7)
    archive = StateArchive(2)
    archive.add(rng.normal(size=(10, 2)))
    working, reserve = WorkingSets([archive]).split(0, pool)
    assert 0 < working.size < 59 and working.size + reserve.size == 59
    assert 7 not in working and 7 not in reserve  # an inactive cut is in neither
    values = pool.intercepts[:, None] + pool.coefficients @ archive.states.T  # [cuts, states]
    values[7] = -np.inf
    assert set(np.argmax(values, axis=0)) <= set(working)


def train_state(problem, working_sets: bool, iterations: int) -> TrainingState:
    state = TrainingState.fresh(problem.compile(), working_sets=working_sets)
    pool = SerialPool(HighspyWorkspace())
    run_training(state, pool, TrainingOptions(iterations=iterations, forward_passes=3, seed=4))
    return state


def test_training_with_working_sets_converges_like_every_cut_as_a_row() -> None:
    """The same bound, not the same path: on a degenerate stage LP fewer rows can mean another optimal vertex."""
    problem = random_hydro(3, 4, 5, seed=8)
    exact = caudal.deterministic_equivalent(problem).objective
    lazy, every = train_state(problem, True, 40), train_state(problem, False, 40)
    assert any(lp.reserve is not None for lp in lazy.cache.lps)
    assert all(lp.reserve is None for lp in every.cache.lps)
    assert lazy.history[-1].lower_bound <= exact * (1 + 1e-9)
    assert lazy.history[-1].lower_bound == pytest.approx(exact, rel=1e-3)
    assert lazy.history[-1].lower_bound == pytest.approx(every.history[-1].lower_bound, rel=1e-4)
