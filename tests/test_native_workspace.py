"""The native workspace: same results as the highspy reference, history-free, allocation-free."""

from __future__ import annotations

import gc
import inspect
import tracemalloc
import typing

import numpy as np
import psutil
import pytest
from hydro_problems import first_steps, infeasible_in_opening, random_hydro
from hypothesis import given, settings
from hypothesis import strategies as st

import caudal
from caudal.sddp.stage_cache import StageCache
from caudal.solver.highspy_workspace import SDDP_OPTIONS, HighspyWorkspace, new_highs
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NativeWorkspace
from caudal.solver.workspace import Basis, SolverError, SolverStats, SolverWorkspace

pytestmark = pytest.mark.skipif(not NATIVE_AVAILABLE, reason="native extension not built")


@pytest.fixture(scope="module")
def trained() -> StageCache:
    """A stage cache with cuts from a short training (canonical bases: slack)."""
    result = caudal.train(random_hydro(4, 5, 6, seed=3), iterations=6, forward_passes=3, seed=1, threads=1)
    return StageCache(result.policy.problem, result.policy.cut_pools)


def backward(ws, cache: StageCache, t: int, state: np.ndarray, basis: Basis | None = None):
    lp = cache.lps[t]
    n_open, n_states = lp.template.n_openings, state.shape[0]
    values, subgradients, final = np.empty(n_open), np.empty((n_open, n_states)), Basis.slack(lp)
    ws.solve_backward(lp, cache.bases[t] if basis is None else basis, state, 7, values, subgradients, final)
    return values, subgradients, final


def forward(ws, cache: StageCache, t: int, states: np.ndarray, openings: np.ndarray):
    lp = cache.lps[t]
    k = states.shape[0]
    out = np.empty_like(states), np.empty(k), np.empty(k)
    ws.solve_forward(lp, cache.bases[t], states, openings.astype(np.int32), np.arange(k, dtype=np.int64), *out)
    return out


def random_states(cache: StageCache, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 200, (n, cache.problem.n_states))


# -- same results as the reference ---------------------------------------------------


def test_backward_and_forward_match_the_highspy_reference(trained: StageCache) -> None:
    native, reference = NativeWorkspace(), HighspyWorkspace()
    states = random_states(trained, 4, seed=0)
    for t in range(1, trained.problem.n_stages):
        for state in states:
            got, want = backward(native, trained, t, state), backward(reference, trained, t, state)
            np.testing.assert_allclose(got[0], want[0], rtol=1e-9)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-9)
        openings = np.arange(states.shape[0]) % trained.lps[t].template.n_openings
        got_forward = forward(native, trained, t, states, openings)
        want_forward = forward(reference, trained, t, states, openings)
        for got, want in zip(got_forward, want_forward, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("make", [NativeWorkspace, HighspyWorkspace], ids=["native", "highspy"])
def test_chunks_of_an_order_solve_just_their_openings_like_a_whole_item_starting_there(trained, make) -> None:
    """``first``/``stop`` solve positions ``[first, stop)`` of the order and touch no other opening.

    A chunk from position 2 gives the values and subgradients of the same openings
    solved as a whole item whose order starts at that position (same start basis).
    """
    ws, t = make(), 1
    lp = trained.lps[t]
    n_open, state = lp.template.n_openings, random_states(trained, 1, seed=4)[0]
    order = np.roll(np.arange(n_open, dtype=np.int32), 1)
    values, subgradients = np.full(n_open, np.nan), np.full((n_open, state.shape[0]), np.nan)
    ws.solve_backward(lp, trained.bases[t], state, 7, values, subgradients, None, order, 2, 4)
    chunk = order[2:4]
    assert np.isnan(np.delete(values, chunk)).all()
    whole_values, whole_subgradients, _ = backward_in_order(ws, trained, t, state, np.roll(order, -2))
    assert np.array_equal(values[chunk], whole_values[chunk])
    assert np.array_equal(subgradients[chunk], whole_subgradients[chunk])
    with pytest.raises(ValueError, match="positions"):
        ws.solve_backward(lp, trained.bases[t], state, 7, values, subgradients, None, order, 3, n_open + 1)


def backward_in_order(ws, cache: StageCache, t: int, state: np.ndarray, order: np.ndarray):
    lp = cache.lps[t]
    n_open, n_states = lp.template.n_openings, state.shape[0]
    values, subgradients, final = np.empty(n_open), np.empty((n_open, n_states)), Basis.slack(lp)
    ws.solve_backward(lp, cache.bases[t], state, 7, values, subgradients, final, order)
    return values, subgradients, final


def test_native_and_reference_set_the_same_options() -> None:
    """``configure_for_sddp`` (native/sddp_options.pxd) and ``SDDP_OPTIONS`` are kept in step by hand."""
    from caudal._native import engine_options, highs_versions

    native, defaults = engine_options(), engine_options(configured=False)
    assert len(native) > 100 and "rebuild_refactor_solution_error_tolerance" in native  # advanced ones too
    # the engine changes no option but those SDDP_OPTIONS names, and sets those to its values
    changed = {name for name, value in native.items() if defaults[name] != value}
    assert changed <= SDDP_OPTIONS.keys()
    assert {name: native[name] for name in SDDP_OPTIONS} == SDDP_OPTIONS
    # the reference agrees on every option, advanced ones too, when highspy runs the HiGHS the kernels
    # loaded; another highspy version has other options and defaults, so only caudal's own are compared
    reference = new_highs()
    same_highs = reference.version() == highs_versions()[1]
    compared = native if same_highs else {name: native[name] for name in SDDP_OPTIONS}
    differ = {name: value for name, value in compared.items() if reference.getOptionValue(name)[1] != value}
    assert differ == {}


@pytest.mark.parametrize("build", [first_steps, lambda: random_hydro(3, 4, 5, seed=11)], ids=["first_steps", "random"])
def test_training_bounds_match_the_highspy_reference(build) -> None:
    native = caudal.train(build(), iterations=8, forward_passes=2, seed=5, threads=1, solver="native")
    reference = caudal.train(build(), iterations=8, forward_passes=2, seed=5, threads=1, solver="highspy")
    for mine, theirs in zip(native.history, reference.history, strict=True):
        assert mine.lower_bound == pytest.approx(theirs.lower_bound, rel=1e-9)
        assert mine.upper_bound_mean == pytest.approx(theirs.upper_bound_mean, rel=1e-9)
    for mine, theirs in zip(native.policy.cut_pools, reference.policy.cut_pools, strict=True):
        np.testing.assert_allclose(mine.intercepts, theirs.intercepts, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(mine.coefficients, theirs.coefficients, rtol=1e-9, atol=1e-9)


@settings(max_examples=12, deadline=None)
@given(
    reservoirs=st.integers(1, 3),
    stages=st.integers(2, 4),
    openings=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    passes=st.integers(1, 3),
)
def test_random_small_problems_train_like_the_reference(
    reservoirs: int, stages: int, openings: int, seed: int, passes: int
) -> None:
    problem = random_hydro(reservoirs, stages, openings, seed).compile()
    native = caudal.train(problem, iterations=3, forward_passes=passes, seed=seed, threads=1, solver="native")
    reference = caudal.train(problem, iterations=3, forward_passes=passes, seed=seed, threads=1, solver="highspy")
    for mine, theirs in zip(native.history, reference.history, strict=True):
        assert mine.lower_bound == pytest.approx(theirs.lower_bound, rel=1e-9)
        assert mine.upper_bound_mean == pytest.approx(theirs.upper_bound_mean, rel=1e-9)


def test_first_steps_converges_to_the_deterministic_equivalent() -> None:
    problem = first_steps()
    result = caudal.train(problem, iterations=20, seed=1, threads=1, solver="native")
    assert result.lower_bound == pytest.approx(caudal.deterministic_equivalent(problem).objective, rel=1e-6)


# -- determinism: results depend on the work item, not on the workspace's history ----------


def test_a_workspace_with_history_gives_bit_identical_results(trained: StageCache) -> None:
    """A work item gives the same bits on a fresh workspace and on one that solved other things first.

    This is what needs ``Highs_clearSolver`` before ``Highs_setBasis``: with
    ``Highs_setBasis`` alone HiGHS keeps state from earlier solves of the same
    LP, and on these degenerate LPs values and duals then differ in the last
    bits (or the solve ends at another vertex).
    """
    n_stages = trained.problem.n_stages
    rng = np.random.default_rng(42)
    used = NativeWorkspace()
    for trial in range(12):
        t = int(rng.integers(1, n_stages))
        state = rng.uniform(0, 200, trained.problem.n_states)
        for _ in range(3):  # history: other stages, other states, the same stage
            backward(used, trained, int(rng.integers(1, n_stages)), rng.uniform(0, 200, state.shape[0]))
            backward(used, trained, t, rng.uniform(0, 200, state.shape[0]))
        fresh_result, used_result = backward(NativeWorkspace(), trained, t, state), backward(used, trained, t, state)
        for fresh, again in zip(fresh_result[:2], used_result[:2], strict=True):
            assert np.array_equal(fresh, again), f"trial {trial}, stage {t}"
        assert np.array_equal(fresh_result[2].row_status, used_result[2].row_status)
        assert np.array_equal(fresh_result[2].col_status, used_result[2].col_status)
        # a non-slack canonical basis, and the forward kernel, behave the same
        basis = fresh_result[2]
        assert np.array_equal(backward(NativeWorkspace(), trained, t, state, basis)[1],
                              backward(used, trained, t, state, basis)[1])
        states = rng.uniform(0, 200, (3, state.shape[0]))
        openings = rng.integers(0, trained.lps[t].template.n_openings, 3)
        for fresh, again in zip(forward(NativeWorkspace(), trained, t, states, openings),
                                forward(used, trained, t, states, openings), strict=True):
            assert np.array_equal(fresh, again)


# -- the solve sequence: loads, basis cache, statistics, buffers ---------------------------


def test_loads_only_when_the_lp_changes_and_counts_everything(trained: StageCache) -> None:
    ws = NativeWorkspace(numa_node=0)
    assert ws.numa_node == 0
    state = random_states(trained, 1, seed=1)[0]
    n_open = trained.lps[2].template.n_openings
    for _ in range(3):
        backward(ws, trained, 2, state)
    stats = ws.stats
    assert isinstance(stats, SolverStats)
    assert (stats.loads, stats.solves + stats.ranged, stats.basis_hits) == (1, 3 * n_open, 2)
    assert stats.simplex_iterations > 0 and stats.retries == 0
    assert min(stats.time_load, stats.time_patch, stats.time_basis, stats.time_solve, stats.time_extract) > 0
    backward(ws, trained, 3, state)
    backward(ws, trained, 2, state)
    assert ws.stats.loads == 3
    ws.reset_stats()
    assert ws.stats.solves == 0


def test_buffers_are_sized_once_and_grow_geometrically(trained: StageCache) -> None:
    ws = NativeWorkspace()
    state = random_states(trained, 1, seed=2)[0]
    backward(ws, trained, 1, state)
    capacity = ws.capacity
    lp = trained.lps[1]
    assert capacity[0] >= lp.num_cols and capacity[1] >= lp.num_rows
    for _ in range(20):
        backward(ws, trained, 1, state)
    assert ws.capacity == capacity
    ws.reserve(capacity[0], capacity[1] + 1, capacity[2])
    assert ws.capacity[1] == 2 * capacity[1]


def test_bad_arguments_are_rejected_with_the_stage_named(trained: StageCache) -> None:
    ws = NativeWorkspace()
    lp = trained.lps[1]
    n_open, n_states = lp.template.n_openings, trained.problem.n_states
    state = np.zeros(n_states)
    with pytest.raises(ValueError, match="stage 1"):
        ws.solve_backward(lp, trained.bases[1], state, 0, np.empty(n_open + 1), np.empty((n_open, n_states)), None)
    with pytest.raises(ValueError, match="realisation 99 out of range"):
        ws.solve_forward(lp, trained.bases[1], state[None], np.array([99], dtype=np.int32), np.zeros(1, np.int64),
                         np.empty((1, n_states)), np.empty(1), np.empty(1))
    short = Basis(np.zeros(lp.num_cols - 1, np.uint8), np.ones(lp.num_rows, np.uint8))
    with pytest.raises(ValueError, match="basis has"):
        backward(ws, trained, 1, state, short)
    bad = Basis.slack(lp)
    bad.row_status[0] = 9
    with pytest.raises(ValueError, match="basis status 9"):
        backward(ws, trained, 1, state, bad)


# -- the retry ladder -------------------------------------------------------------------


def test_an_infeasible_opening_raises_a_solver_error_naming_where() -> None:
    problem = infeasible_in_opening(stage_index=1, opening=2).compile()
    cache = StageCache(problem, [caudal.sddp.cuts.CutPool(problem.n_states) for _ in range(problem.n_stages)])
    ws = NativeWorkspace()
    ws.iteration = 4
    with pytest.raises(SolverError) as raised:
        backward(ws, cache, 1, np.array([100.0]))
    failure = raised.value.failure
    assert (failure.stage, failure.opening, failure.forward_pass, failure.iteration) == (1, 2, 7, 4)
    assert failure.status == "Infeasible"
    message = str(raised.value)
    assert "stage 1, opening 2, forward pass 7, iteration 4" in message and "Infeasible" in message
    assert ws.stats.retries == 5  # refactorised restart, cold start, presolve on, max-value scaling, primal simplex
    # a forward pass through the bad opening fails the same way
    with pytest.raises(SolverError, match="stage 1, opening 2, forward pass 5"):
        ws.solve_forward(cache.lps[1], cache.bases[1], np.array([[100.0]]), np.array([2], dtype=np.int32),
                         np.array([5], dtype=np.int64), np.empty((1, 1)), np.empty(1), np.empty(1))
    # and the workspace is still usable: the LP is reloaded, the options restored
    values, _, _ = backward(ws, cache, 2, np.array([100.0]))
    reference = backward(HighspyWorkspace(), cache, 2, np.array([100.0]))[0]
    assert np.array_equal(values, reference)


@pytest.mark.parametrize("name", ["solve_forward", "solve_backward", "solve_detailed"])
def test_the_solve_methods_carry_the_protocols_signature_and_hints(name: str) -> None:
    method, protocol = getattr(NativeWorkspace, name), getattr(SolverWorkspace, name)
    assert inspect.signature(method) == inspect.signature(protocol)
    assert typing.get_type_hints(method) == typing.get_type_hints(protocol)


def test_a_failure_raised_through_keyword_arguments_is_translated() -> None:
    problem = infeasible_in_opening(stage_index=1, opening=2).compile()
    cache = StageCache(problem, [caudal.sddp.cuts.CutPool(problem.n_states) for _ in range(problem.n_stages)])
    lp = cache.lps[1]
    with pytest.raises(SolverError, match="stage 1, opening 2, forward pass 7"):
        NativeWorkspace().solve_backward(lp, cache.bases[1], np.array([100.0]), trial_id=7,
                                         out_values=np.empty(lp.template.n_openings),
                                         out_subgradients=np.empty((lp.template.n_openings, 1)), out_basis=None)


def test_the_reference_puts_its_options_back_after_the_retry_ladder() -> None:
    problem = infeasible_in_opening(stage_index=1, opening=2).compile()
    cache = StageCache(problem, [caudal.sddp.cuts.CutPool(problem.n_states) for _ in range(problem.n_stages)])
    ws = HighspyWorkspace()
    with pytest.raises(SolverError):
        backward(ws, cache, 1, np.array([100.0]))
    assert ws.stats.retries == 5
    assert {name: ws.highs.getOptionValue(name)[1] for name in SDDP_OPTIONS} == SDDP_OPTIONS


# -- no allocation on the hot path -------------------------------------------------------


def test_memory_is_flat_after_warm_up(trained: StageCache) -> None:
    """Thousands of solves after warm-up leave Python's heap and the process RSS where they were."""
    ws = NativeWorkspace()
    t = 3
    lp, basis = trained.lps[t], trained.bases[t]
    n_open, n_states = lp.template.n_openings, trained.problem.n_states
    states = random_states(trained, 8, seed=3)
    values, subgradients, final = np.empty(n_open), np.empty((n_open, n_states)), Basis.slack(lp)

    def work(rounds: int) -> None:
        for _ in range(rounds):
            for state in states:
                ws.solve_backward(lp, basis, state, 0, values, subgradients, final)

    work(20)  # warm-up: buffers sized, HiGHS's own vectors at their high-water mark
    gc.collect()
    process = psutil.Process()
    rss_before = process.memory_info().rss
    tracemalloc.start()
    try:
        traced_before, _ = tracemalloc.get_traced_memory()
        work(60)  # 60 * 8 work items * 6 openings = 2880 LP solves or ranged openings
        gc.collect()
        traced_after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_after = process.memory_info().rss
    assert ws.stats.solves + ws.stats.ranged == 80 * 8 * n_open
    assert traced_after - traced_before < 4096, "Python objects accumulate on the hot path"
    assert rss_after - rss_before < 1 << 20, f"RSS grew by {(rss_after - rss_before) / 1024:.0f} KiB"


def test_option_overrides_apply_to_kernels_created_after_them(trained: StageCache) -> None:
    """``set_option_overrides`` (for benchmarks/solver_choices.py) changes new kernels only, and ``{}`` undoes it."""
    from caudal import _native

    state = np.full(trained.lps[2].template.state_in_cols.shape[0], 50.0)
    engine = NativeWorkspace()
    try:
        _native.set_option_overrides({"simplex_iteration_limit": 0})
        with pytest.raises(SolverError, match="Iteration limit"):
            backward(NativeWorkspace(), trained, 2, state)
        reference = backward(HighspyWorkspace(), trained, 2, state)[0]
        assert np.array_equal(backward(engine, trained, 2, state)[0], reference)  # created before: unchanged
        with pytest.raises(ValueError, match="no_such_option"):
            _native.set_option_overrides({"no_such_option": 1})
    finally:
        _native.set_option_overrides({})
    values = backward(NativeWorkspace(), trained, 2, state)[0]
    assert np.array_equal(values, backward(HighspyWorkspace(), trained, 2, state)[0])


def test_the_buffers_reported_grow_with_the_lp_they_hold() -> None:
    """The profile's workspace bytes: every buffer counted, the pivots' eta vectors (16 per row) among them."""
    ws = NativeWorkspace()
    small = ws.buffer_bytes
    ws.reserve(1000, 2000, 10)
    eta_bytes = 16 * 2000 * 8
    row_bytes = 2000 * (4 + 4 + 4 + 8 + 4 + 4 + 8 + 8 + 8 + 8)  # statuses, slots, kept values and duals, solves
    assert ws.buffer_bytes - small >= eta_bytes + row_bytes + 1000 * (8 + 8 + 4 + 4 + 4 + 8 + 4)


def test_the_buffers_reported_include_the_bases_cached_per_stage(trained: StageCache) -> None:
    """A workspace that solved a stage holds that stage's basis too: counted, and readable at any time."""
    ws = NativeWorkspace()
    ws.reserve(1000, 1000, 1000)  # nothing below grows the solve buffers: only the bases add bytes
    state = random_states(trained, 1, seed=0)[0]
    backward(ws, trained, 2, state)
    one_stage = ws.buffer_bytes
    backward(ws, trained, 3, state)
    lp = trained.lps[3]
    assert ws.buffer_bytes >= one_stage + lp.num_cols + lp.num_rows
    two_stages = ws.buffer_bytes
    backward(ws, trained, 2, state)
    assert ws.buffer_bytes == two_stages  # a stage solved again reuses its basis slot
