"""The solvers' form of a stage LP: the objective scaled by a power of two, reported back unscaled."""

from __future__ import annotations

import dataclasses
import math

import highspy
import numpy as np
import pytest
from hydro_problems import random_hydro

import caudal
from caudal.model.objective_scale import objective_scale, solver_form, unscaled_solution
from caudal.sddp.stage_cache import StageCache
from caudal.solver.highspy_workspace import new_highs, to_highs_lp


@pytest.fixture(scope="module")
def cache() -> StageCache:
    """Stage LPs with cuts, from a short training of a problem with large costs."""
    problem = random_hydro(3, 4, 4, seed=5).compile()
    result = caudal.train(problem, iterations=5, forward_passes=2, seed=2, threads=1)
    return StageCache(result.policy.problem, result.policy.cut_pools)


def test_the_scale_is_a_power_of_two_bringing_the_largest_cost_near_1(cache: StageCache) -> None:
    for lp in cache.lps:
        template = lp.template
        scale = objective_scale(template)
        assert math.log2(scale) == round(math.log2(scale))
        others = np.ones(template.num_cols, dtype=bool)
        others[template.theta_col] = False
        largest = np.abs(template.col_cost[others]).max()
        assert 2**-0.5 <= largest * scale <= 2**0.5


def test_costs_cut_rows_and_value_bounds_change_units_and_nothing_else(cache: StageCache) -> None:
    lp = cache.lps[1]
    template, form = lp.template, solver_form(lp)
    s, theta = form.scale, template.theta_col
    assert s != 1.0 and lp.num_cuts > 0
    expected_cost = template.col_cost * s
    expected_cost[theta] = template.col_cost[theta]
    np.testing.assert_array_equal(form.col_cost, expected_cost)
    assert form.col_lower[theta] == template.col_lower[theta] * s
    nt = template.num_rows
    np.testing.assert_array_equal(form.row_lower[:nt], lp.row_lower[:nt])
    np.testing.assert_array_equal(form.row_lower[nt:], lp.row_lower[nt:] * s)
    dense, scaled = np.zeros((lp.num_rows, lp.num_cols)), np.zeros((lp.num_rows, lp.num_cols))
    for j in range(lp.num_cols):
        rows = lp.row_index[lp.col_start[j] : lp.col_start[j + 1]]
        dense[rows, j] = lp.values[lp.col_start[j] : lp.col_start[j + 1]]
        scaled[rows, j] = form.values[lp.col_start[j] : lp.col_start[j + 1]]
    expected = dense.copy()
    expected[nt:, :] *= s
    expected[nt:, theta] = dense[nt:, theta]  # theta' = s theta keeps its coefficient 1
    np.testing.assert_array_equal(scaled, expected)


def test_the_scaled_lp_has_the_same_solution_in_the_stage_s_units(cache: StageCache) -> None:
    lp = cache.lps[2]

    def solve(model: highspy.HighsLp) -> tuple[float, np.ndarray, np.ndarray]:
        highs = new_highs()
        highs.passModel(model)
        highs.run()
        assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        solution = highs.getSolution()
        return highs.getInfo().objective_function_value, solution.col_value, solution.row_dual

    objective, col_value, row_dual = solve(to_highs_lp(lp))
    got = unscaled_solution(lp.solver_form, *solve(to_highs_lp(lp, lp.solver_form)))
    assert got[0] == pytest.approx(objective, rel=1e-9)
    np.testing.assert_allclose(got[1], col_value, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(got[2], row_dual, rtol=1e-7, atol=1e-6 * np.abs(row_dual).max())


def test_a_template_row_mixing_theta_with_other_columns_keeps_scale_1(cache: StageCache) -> None:
    template = cache.lps[1].template
    row = 0  # put theta into a template row that has other columns
    col_start, row_index, values = template.col_start, template.row_index, template.values
    j = template.theta_col
    new_index = np.insert(row_index, col_start[j + 1], row)
    new_values = np.insert(values, col_start[j + 1], 1.0)
    new_start = col_start.copy()
    new_start[j + 1 :] += 1
    mixed = dataclasses.replace(template, col_start=new_start, row_index=new_index, values=new_values)
    assert objective_scale(template) != 1.0
    assert objective_scale(mixed) == 1.0
