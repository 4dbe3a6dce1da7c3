"""The order of a backward work item's openings: a short tour, started at the forward pass's opening."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hydro_problems import random_hydro

import caudal
from caudal.sddp.opening_order import chain_orders, opening_tour, opening_tours
from caudal.sddp.stage_cache import StageCache
from caudal.solver.highspy_workspace import HighspyWorkspace
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NativeWorkspace
from caudal.solver.workspace import Basis


def with_openings(template, values: np.ndarray):
    """``template`` with one column patch whose value per opening is ``values`` (rows: openings)."""
    n, k = values.shape
    return dataclasses.replace(
        template,
        probabilities=np.full(n, 1.0 / n),
        col_patch_index=np.arange(k, dtype=np.int32),
        col_patch_lower=values,
        col_patch_upper=values,
        row_patch_index=np.zeros(0, dtype=np.int32),
        row_patch_lower=np.zeros((n, 0)),
        row_patch_upper=np.zeros((n, 0)),
    )


@pytest.fixture(scope="module")
def template():
    return random_hydro(2, 2, 3, seed=1).compile().templates[1]


def tour_length(tour: np.ndarray, points: np.ndarray) -> float:
    return float(np.linalg.norm(points[tour] - points[np.roll(tour, -1)], axis=1).sum())


def test_points_on_a_line_are_visited_in_their_order(template) -> None:
    values = np.array([[0.0], [5.0], [1.0], [4.0], [2.0], [3.0]])
    tour = opening_tour(with_openings(template, values))
    assert tour.dtype == np.int32
    assert list(tour) in ([0, 2, 4, 5, 3, 1], [0, 1, 3, 5, 4, 2])  # along the line, either way round


def test_the_tour_is_a_permutation_from_opening_0_and_no_longer_than_index_order(template) -> None:
    rng = np.random.default_rng(7)
    for n in (4, 9, 40):
        values = rng.uniform(0, 100, (n, 3))
        tour = opening_tour(with_openings(template, values))
        assert tour[0] == 0 and sorted(tour) == list(range(n))
        scaled = (values - values.min(0)) / (values.max(0) - values.min(0))
        assert tour_length(tour, scaled) <= tour_length(np.arange(n), scaled)
        assert np.array_equal(tour, opening_tour(with_openings(template, values.copy())))  # a function of the data


def test_identical_or_few_openings_keep_index_order(template) -> None:
    assert list(opening_tour(with_openings(template, np.ones((5, 2))))) == [0, 1, 2, 3, 4]
    assert list(opening_tour(with_openings(template, np.array([[3.0], [1.0], [2.0]])))) == [0, 1, 2]


def test_each_chain_starts_at_its_forward_opening_and_follows_the_tour() -> None:
    tour = np.array([0, 3, 1, 2], dtype=np.int32)
    orders = chain_orders(tour, np.array([1, 0, 2, 7, -1]))
    assert orders.dtype == np.int32 and orders.flags.c_contiguous
    assert orders.tolist() == [
        [1, 2, 0, 3],
        [0, 3, 1, 2],
        [2, 0, 3, 1],
        [0, 3, 1, 2],  # a realisation outside the openings (out of sample): the tour as it is
        [0, 3, 1, 2],
    ]


NATIVE = pytest.param(NativeWorkspace, marks=pytest.mark.skipif(not NATIVE_AVAILABLE, reason="native not built"))


@pytest.mark.parametrize("workspace", [HighspyWorkspace, NATIVE])
def test_any_order_gives_the_same_values_per_opening(workspace) -> None:
    """The order changes where each solve starts, not what it finds: values land under their opening."""
    result = caudal.train(random_hydro(3, 3, 5, seed=2), iterations=4, forward_passes=2, seed=3, threads=1)
    cache = StageCache(result.policy.problem, result.policy.cut_pools)
    lp = cache.lps[1]
    state = np.full(cache.problem.n_states, 80.0)
    n_open = lp.template.n_openings
    values = {}
    for order in (None, np.array([3, 1, 4, 0, 2], dtype=np.int32)):
        out, sub = np.empty(n_open), np.empty((n_open, state.size))
        workspace().solve_backward(lp, cache.bases[1], state, 0, out, sub, Basis.slack(lp), order)
        values[order is None] = out
    np.testing.assert_allclose(values[False], values[True], rtol=1e-9)
    with pytest.raises(ValueError, match="not a permutation"):
        workspace().solve_backward(
            lp, cache.bases[1], state, 0, np.empty(n_open), np.empty((n_open, state.size)), None,
            np.array([0, 1, 1, 2, 3], dtype=np.int32),
        )


def test_stages_with_the_same_openings_share_one_tour_equal_to_each_stages_own(template) -> None:
    rng = np.random.default_rng(3)
    seasons = [rng.uniform(0.0, 10.0, size=(9, 2)) for _ in range(2)]
    scaled = seasons[0] * 2.0  # other values, the same points once each column is scaled to unit range
    templates = [with_openings(template, values) for values in (seasons[0], seasons[1], seasons[0].copy(), scaled)]
    tours = opening_tours(templates)
    for tour, stage in zip(tours, templates, strict=True):
        assert np.array_equal(tour, opening_tour(stage))
    assert tours[2] is tours[0]
    assert tours[1] is not tours[0]
    assert not np.array_equal(tours[0], tours[1])  # the two seasons' tours differ, so sharing is visible
