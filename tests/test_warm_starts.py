"""The backward pass starts each trial state from its own forward pass's basis."""

from __future__ import annotations

import numpy as np
import pytest
from hydro_problems import random_hydro

import caudal
from caudal.parallel.workers import make_pool
from caudal.sddp.cuts import CutPool
from caudal.sddp.passes import backward_stage, forward_pass
from caudal.sddp.stage_cache import StageCache, carry_basis
from caudal.solver.workspace import BASIC, LOWER, Basis


@pytest.fixture(scope="module")
def trained_cache() -> StageCache:
    """A stage cache with a few iterations' cuts, so bases have cut rows to carry."""
    result = caudal.train(random_hydro(3, 4, 5, seed=11), iterations=5, forward_passes=3, seed=2, threads=1)
    return StageCache(result.policy.problem, result.policy.cut_pools)


def scenarios(cache: StageCache, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, t.n_openings, n) for t in cache.problem.templates], axis=1).astype(np.int32)


@pytest.mark.parametrize("solver", ["native", "highspy"])
def test_forward_pass_keeps_one_valid_basis_per_pass_and_stage(trained_cache: StageCache, solver: str) -> None:
    pool = make_pool(1, solver)
    forward = forward_pass(trained_cache.problem, trained_cache, pool, scenarios(trained_cache, 4, 0), keep_bases=True)
    assert forward.bases is not None and forward.lps is not None
    for t, (lp, bases) in enumerate(zip(forward.lps, forward.bases, strict=True)):
        assert lp is trained_cache.lps[t]
        assert bases.shape == (4, lp.num_cols + lp.num_rows)
        # a simplex basis: as many basic variables as rows
        assert np.all(np.count_nonzero(bases == BASIC, axis=1) == lp.num_rows)


@pytest.mark.parametrize("solver", ["native", "highspy"])
def test_cuts_from_forward_bases_have_the_same_values(trained_cache: StageCache, solver: str) -> None:
    """Where the solves start changes the path, never the optimal values the cuts are made of."""
    problem = trained_cache.problem
    pool = make_pool(1, solver)
    forward = forward_pass(problem, trained_cache, pool, scenarios(trained_cache, 3, 1), keep_bases=True)
    for t in range(1, problem.n_stages):
        trial = forward.states[t - 1]
        starts = forward.start_bases(t, trained_cache.lps[t], trained_cache.bases[t])
        warm = backward_stage(trained_cache, pool, t, trial, start_bases=starts)
        canonical = backward_stage(trained_cache, pool, t, trial)
        # the cut's value at its own trial state is the expected stage value there
        warm_value = warm[0] + np.einsum("kn,kn->k", warm[1], trial)
        canonical_value = canonical[0] + np.einsum("kn,kn->k", canonical[1], trial)
        np.testing.assert_allclose(warm_value, canonical_value, rtol=1e-8, atol=1e-6)


def test_a_carried_basis_keeps_old_cuts_and_makes_new_cuts_basic(trained_cache: StageCache) -> None:
    problem, t = trained_cache.problem, 1
    cache = StageCache(problem, [copy_pool(p) for p in trained_cache.pools])
    old_lp = cache.lps[t]
    old = square_basis_with_a_nonbasic_cut(old_lp)
    cache.pools[t].add(np.array([1.0, 2.0]), np.ones((2, problem.n_states)), 99, np.array([0, 1]))
    cache.refresh(t)
    new_lp = cache.lps[t]
    assert new_lp.num_rows == old_lp.num_rows + 2
    carried = carry_basis(old, old_lp, new_lp)
    assert carried is not None
    np.testing.assert_array_equal(carried.col_status, old.col_status)
    np.testing.assert_array_equal(carried.row_status[: old_lp.num_rows], old.row_status)
    assert np.all(carried.row_status[old_lp.num_rows :] == BASIC)


def test_carrying_to_the_same_lp_is_the_identity(trained_cache: StageCache) -> None:
    lp, basis = trained_cache.lps[2], trained_cache.bases[2]
    assert carry_basis(basis, lp, lp) is basis


def test_a_basis_left_short_by_a_dropped_cut_is_not_carried(trained_cache: StageCache) -> None:
    """Dropping a nonbasic cut row leaves one basic variable too few: the caller falls back."""
    problem, t = trained_cache.problem, 1
    cache = StageCache(problem, [copy_pool(p) for p in trained_cache.pools])
    old_lp = cache.lps[t]
    old = square_basis_with_a_nonbasic_cut(old_lp)
    mask = np.ones(cache.pools[t].size, dtype=bool)
    mask[old_lp.cut_ids[0]] = False
    cache.pools[t].set_active(mask)
    cache.refresh(t)
    assert carry_basis(old, old_lp, cache.lps[t]) is None


def square_basis_with_a_nonbasic_cut(lp) -> Basis:
    """The slack basis with the first cut row swapped out for a column: still one basic per row."""
    assert lp.cut_ids.size >= 1
    basis = Basis.slack(lp)
    basis.col_status[int(np.flatnonzero(basis.col_status != BASIC)[0])] = BASIC
    basis.row_status[lp.template.num_rows] = LOWER
    return basis


def copy_pool(pool: CutPool) -> CutPool:
    copy = CutPool(pool.n_states)
    copy.add(pool.intercepts.copy(), pool.coefficients.copy(), pool.iteration.copy(), pool.forward_pass.copy(),
             pool.targets.copy())
    return copy


def test_start_bases_carried_on_demand_are_the_eagerly_carried_ones(trained_cache: StageCache) -> None:
    """StartBases carries each trial state's basis when asked: the same statuses as carrying them all up front."""
    problem = trained_cache.problem
    forward = forward_pass(problem, trained_cache, make_pool(1, "native"), scenarios(trained_cache, 5, 3),
                           keep_bases=True)
    cache = StageCache(problem, [copy_pool(p) for p in trained_cache.pools])
    t = 2
    cache.pools[t].add(np.array([1.0]), np.ones((1, problem.n_states)), 99, np.array([0]))  # a cut since the pass
    cache.refresh(t)
    lazy = forward.start_bases(t, cache.lps[t], cache.bases[t])
    n_cols = forward.lps[t].num_cols
    eager = []
    for row in forward.bases[t]:
        carried = carry_basis(Basis(row[:n_cols], row[n_cols:]), forward.lps[t], cache.lps[t])
        eager.append(cache.bases[t] if carried is None else carried)
    assert len(lazy) == 5 and len(lazy[1:4]) == 3 and len(lazy[::2]) == 3
    for mine, theirs in [*zip(lazy[1:4], eager[1:4], strict=True), *zip(lazy, eager, strict=True)]:
        np.testing.assert_array_equal(mine.col_status, theirs.col_status)
        np.testing.assert_array_equal(mine.row_status, theirs.row_status)
    assert lazy[3] is lazy[1:4][2]  # a slice shares what was carried
    with pytest.raises(IndexError):
        lazy[5]
