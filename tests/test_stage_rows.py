"""The fast paths of the serial work between backward stages give their references' answers, element for element.

Each compiled kernel of ``native/_stage_rows.pyx`` and each cached lookup is
compared with the numpy computation it replaces, on random inputs and on the
edge cases (no cut, one cut, one state, ties).
"""

from __future__ import annotations

import numpy as np
import pytest
from hydro_problems import random_hydro

from caudal.model.stage_lp import ReserveCuts
from caudal.sddp import opening_order, selection
from caudal.sddp.cuts import CutPool, StateArchive
from caudal.sddp.opening_order import TourChains, chain_orders, tour_chains
from caudal.sddp.selection import LimitedMemoryLevel1, dominating_cuts
from caudal.sddp.stage_assembly import CutRowAssembler
from caudal.sddp.stage_cache import _carried_row_statuses, carry_cut_rows
from caudal.sddp.working_set import WorkingSets
from caudal.solver.workspace import BASIC, Basis

stage_rows = pytest.importorskip("caudal._stage_rows")

LP_FIELDS = ("num_rows", "col_start", "row_index", "values", "row_lower", "row_upper", "cut_ids")
FORM_FIELDS = ("values", "row_lower", "row_upper", "row_dual_factor")


@pytest.mark.parametrize("n_cuts", [1, 2, 9, 60])
def test_compiled_cut_columns_are_the_numpy_ones(n_cuts: int) -> None:
    rng = np.random.default_rng(n_cuts)
    for template in random_hydro(4, 3, 4, seed=5).compile().templates:
        assembler = CutRowAssembler(template)
        intercepts = rng.normal(size=n_cuts) * 1e5
        coefficients = rng.normal(size=(n_cuts, template.n_states))
        coefficients[0, 0] = -0.0  # a sign to keep: -(-0.0) is +0.0
        ids = np.sort(rng.choice(4 * n_cuts, size=n_cuts, replace=False))
        reserve = ReserveCuts(np.array([1]), intercepts, coefficients, np.zeros(n_cuts, dtype=np.int32))
        fast = assembler.assemble(intercepts, coefficients, ids, 3, reserve)
        slow = assembler.assemble(intercepts, coefficients, ids, 3, reserve, native=False)
        for field in LP_FIELDS:
            mine, theirs = np.asarray(getattr(fast, field)), np.asarray(getattr(slow, field))
            assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes(), field
        for field in FORM_FIELDS:
            mine, theirs = getattr(fast.solver_form, field), getattr(slow.solver_form, field)
            assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes(), field


def test_fill_cut_columns_refuses_arrays_that_do_not_fit() -> None:
    template = random_hydro(2, 2, 2, seed=1).compile().templates[0]
    assembler = CutRowAssembler(template)
    coefficients = np.ones((3, template.n_states))
    nnz = template.nnz + 3 * assembler._per_cut_entries
    short = np.empty(nnz - 1)
    with pytest.raises(ValueError, match="do not fit"):
        stage_rows.fill_cut_columns(
            template.col_start, template.row_index, template.values, template.values, assembler._state_of_col,
            assembler._value_col, template.num_rows, coefficients, 1.0, np.empty(template.num_cols + 1, np.int32),
            np.empty(nnz, np.int32), short, np.empty(nnz),
        )


class _FakeLP:
    """The three attributes carry_cut_rows reads of a StageLP."""

    def __init__(self, n_template: int, cut_ids: np.ndarray):
        self.template = type("T", (), {"num_rows": n_template})()
        self.cut_ids = cut_ids
        self.num_rows = n_template + cut_ids.size


@pytest.mark.parametrize("seed", range(12))
def test_compiled_row_carry_is_the_numpy_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_template, n_cols = int(rng.integers(0, 6)), int(rng.integers(1, 8))
    universe = int(rng.integers(0, 30))
    old_ids = np.sort(rng.choice(universe + 1, size=int(rng.integers(0, universe + 1)), replace=False))
    new_ids = np.sort(rng.choice(universe + 3, size=int(rng.integers(0, universe + 3)), replace=False))
    statuses = rng.integers(0, 5, size=n_template + old_ids.size).astype(np.uint8)
    basis = Basis(rng.integers(0, 5, size=n_cols).astype(np.uint8), statuses)
    lp = _FakeLP(n_template, new_ids.astype(np.int64))
    reference = _carried_row_statuses(basis.row_status, n_template, old_ids, lp)
    rows = np.empty(lp.num_rows, dtype=np.uint8)
    n_basic = stage_rows.carry_row_statuses(basis.row_status, n_template, old_ids.astype(np.int64), lp.cut_ids, rows)
    assert np.array_equal(rows, reference)
    assert n_basic == np.count_nonzero(reference == BASIC)
    fast, slow = carry_cut_rows(basis, old_ids, lp), carry_cut_rows(basis, old_ids, lp, native=False)
    assert (fast is None) == (slow is None)
    if fast is not None:
        assert np.array_equal(fast.row_status, slow.row_status) and np.array_equal(fast.col_status, slow.col_status)


def test_a_carry_that_leaves_the_basis_short_gives_none_both_ways() -> None:
    basis = Basis(np.array([BASIC], dtype=np.uint8), np.array([0, 0], dtype=np.uint8))  # 1 basic of 2
    lp = _FakeLP(1, np.array([5], dtype=np.int64))  # the cut row survives, nonbasic: 1 basic, 2 rows
    assert carry_cut_rows(basis, np.array([5]), lp) is None
    assert carry_cut_rows(basis, np.array([5]), lp, native=False) is None


@pytest.mark.parametrize("n_cuts,n_states,n", [(1, 1, 1), (1, 5, 3), (7, 1, 2), (40, 30, 4), (3, 0, 2)])
def test_update_level1_from_scratch_is_dominating_cuts(n_cuts: int, n_states: int, n: int) -> None:
    rng = np.random.default_rng(n_cuts * 100 + n_states)
    intercepts = rng.integers(-2, 3, size=n_cuts).astype(float)  # small integers: many ties
    coefficients = rng.integers(-2, 3, size=(n_cuts, n)).astype(float)
    states = rng.integers(-2, 3, size=(n_states, n)).astype(float)
    best_cut, best_value = np.full(n_states + 2, -7), np.full(n_states + 2, 7.0)
    stage_rows.update_level1(intercepts, coefficients, states, 0, 0, best_cut, best_value)
    expected_cut, expected_value = dominating_cuts(intercepts, coefficients, states, native=False)
    assert np.array_equal(best_cut[:n_states], expected_cut)
    assert best_value[:n_states].tobytes() == expected_value.tobytes()


def test_update_level1_refuses_a_history_beyond_its_arrays() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        stage_rows.update_level1(np.zeros(2), np.zeros((2, 1)), np.zeros((3, 1)), 3, 0,
                                 np.zeros(3, dtype=np.int64), np.zeros(3))


@pytest.mark.parametrize("multi", [False, True])
@pytest.mark.parametrize("per_step", [(1, 1), (4, 1), (1, 6), (0, 2), (3, 0)])
def test_limited_memory_level1_takes_the_same_cuts_with_and_without_the_kernel(
    monkeypatch: pytest.MonkeyPatch, multi: bool, per_step: tuple[int, int]
) -> None:
    new_cuts, new_states = per_step
    rng = np.random.default_rng(new_cuts * 10 + new_states + 100 * multi)
    pool, visited = CutPool(3), np.zeros((0, 3))
    fast, slow = LimitedMemoryLevel1(), LimitedMemoryLevel1()
    for step in range(15):
        if step == 0 or new_cuts:
            k = max(new_cuts, 1)
            targets = rng.integers(0, 3, size=k) if multi else 0
            pool.add(rng.integers(-3, 4, size=k).astype(float), rng.integers(-2, 3, size=(k, 3)).astype(float),
                     step, np.arange(k), targets)
        visited = np.vstack((visited, rng.integers(-2, 3, size=(new_states if step else 1, 3)).astype(float)))
        chosen = fast.select(1, pool, visited)
        with monkeypatch.context() as patch:
            patch.setattr(selection, "update_level1", None)
            assert np.array_equal(chosen, slow.select(1, pool, visited)), step
        if step == 9:  # an undone iteration: the pool and the visited states shrink
            pool.truncate(max(pool.size - 2, 1))
            visited = visited[:-1]


def test_big_updates_take_the_blocked_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(selection, "update_level1", lambda *args: calls.append(args) or stage_rows.update_level1(*args))
    rng = np.random.default_rng(2)
    pool = CutPool(4)
    pool.add(rng.normal(size=3), rng.normal(size=(3, 4)), 0, np.arange(3))
    LimitedMemoryLevel1().select(0, pool, rng.normal(size=(2, 4)))
    assert len(calls) == 1
    pool.add(rng.normal(size=selection.SMALL_UPDATE), rng.normal(size=(selection.SMALL_UPDATE, 4)), 1,
             np.zeros(selection.SMALL_UPDATE, dtype=np.int64))
    LimitedMemoryLevel1().select(0, pool, rng.normal(size=(2, 4)))
    assert len(calls) == 1


@pytest.mark.parametrize("n", [1, 2, 3, 10])
def test_tour_chains_give_chain_orders(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    rng = np.random.default_rng(n)
    tour = rng.permutation(n).astype(np.int32)
    forward = np.concatenate((rng.integers(0, n, size=6), [-1, n, n + 5])).astype(np.int32)
    expected = chain_orders(tour, forward)
    for kept in (opening_order.MAX_KEPT_ROTATIONS, 0):  # rotations kept, and too many openings to keep them
        monkeypatch.setattr(opening_order, "MAX_KEPT_ROTATIONS", kept)
        orders = TourChains(tour).orders(forward)
        assert orders.dtype == expected.dtype and orders.flags.c_contiguous
        assert np.array_equal(orders, expected)
        assert TourChains(tour).orders(forward[:0]).shape == (0, n)


def test_stages_sharing_a_tour_share_its_chains() -> None:
    a, b = np.arange(4, dtype=np.int32), np.array([0, 2, 1], dtype=np.int32)
    chains = tour_chains([a, b, a])
    assert chains[0] is chains[2] and chains[0] is not chains[1]


@pytest.mark.parametrize("seed", range(6))
def test_compiled_working_set_split_is_the_numpy_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool, archive = CutPool(2), StateArchive(2)
    fast, slow = WorkingSets([archive]), WorkingSets([archive])
    assert all(ids.size == 0 for ids in fast.split(0, pool))  # no cut, no state
    for step in range(8):
        k = int(rng.integers(1, 4))
        targets = rng.integers(0, 2, size=k) if seed % 2 else 0
        pool.add(rng.integers(-3, 4, size=k).astype(float), rng.integers(-2, 3, size=(k, 2)).astype(float), step,
                 np.arange(k), targets)
        if step:  # the first split sees cuts and no state
            archive.add(rng.integers(-2, 3, size=(int(rng.integers(1, 3)), 2)).astype(float))
        pool.set_active(rng.random(pool.size) < 0.8)
        for mine, theirs in zip(fast.split(0, pool), slow.split(0, pool, native=False), strict=True):
            assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), step


def test_split_by_dominance_refuses_a_cut_outside_the_pool() -> None:
    with pytest.raises(ValueError, match="not one of the 2 cuts"):
        stage_rows.split_by_dominance(np.array([0, 2]), np.ones(2, dtype=np.uint8), np.empty(2, dtype=np.int64),
                                      np.empty(2, dtype=np.int64))
