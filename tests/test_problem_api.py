"""The problem builder: clear errors for bad definitions, the exact array form, a hand-solved LP.

The expected arrays and values below are derived by hand from the small problems
written out in each test, not copied from the code's output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import caudal
from caudal import Problem, ProblemError


def one_state_stage(problem: Problem, initial: float | None = 5.0):
    stage = problem.add_stage()
    state = stage.add_state("volume", upper=10.0, initial=initial)
    return stage, state


# -- validation ------------------------------------------------------------------


def test_unknown_problem_sense_is_refused():
    with pytest.raises(ProblemError, match=r"sense must be 'min' or 'max', got 'minimise'"):
        Problem(sense="minimise")


def test_unknown_constraint_sense_is_refused():
    stage, state = one_state_stage(Problem())
    with pytest.raises(ProblemError, match=r"stage 0, constraint 'c0': sense must be one of"):
        stage.add_constraint({state.out: 1.0}, "=", 1.0)


def test_variable_of_another_stage_is_refused():
    problem = Problem()
    first, _ = one_state_stage(problem)
    x = first.add_variable("x")
    second, _ = one_state_stage(problem, initial=None)
    with pytest.raises(ProblemError, match=r"stage 1, constraint 'link': variable 'x' belongs to stage 0"):
        second.add_constraint({x: 1.0}, "<=", 1.0, name="link")


def test_uncertain_of_another_stage_is_refused():
    problem = Problem()
    first, _ = one_state_stage(problem)
    rain = first.add_uncertain("rain", [1.0, 2.0])
    second, _ = one_state_stage(problem, initial=None)
    with pytest.raises(ProblemError, match=r"uncertain 'rain' belongs to stage 0"):
        second.add_variable("y", upper=rain)


def test_a_state_is_not_a_variable():
    stage, state = one_state_stage(Problem())
    with pytest.raises(ProblemError, match=r"use state.out or state.incoming"):
        stage.add_constraint({state: 1.0}, "<=", 1.0)


def test_mismatched_opening_counts_are_refused():
    stage, _ = one_state_stage(Problem())
    stage.add_uncertain("inflow", [1.0, 2.0, 3.0])
    with pytest.raises(ProblemError, match=r"'demand': has 2 values but 'inflow' has 3"):
        stage.add_uncertain("demand", [1.0, 2.0])


def test_probabilities_must_sum_to_one():
    stage, _ = one_state_stage(Problem())
    stage.add_uncertain("inflow", [1.0, 2.0])
    with pytest.raises(ProblemError, match=r"stage 0: probabilities sum to 1.1"):
        stage.set_probabilities([0.5, 0.6])


def test_negative_probabilities_are_refused():
    stage, _ = one_state_stage(Problem())
    stage.add_uncertain("inflow", [1.0, 2.0])
    with pytest.raises(ProblemError, match=r"finite and non-negative"):
        stage.set_probabilities([1.5, -0.5])


def test_probability_count_must_match_openings():
    problem = Problem()
    stage, _ = one_state_stage(problem)
    stage.set_probabilities([0.5, 0.5])
    stage.add_uncertain("inflow", [1.0, 2.0, 3.0])
    with pytest.raises(ProblemError, match=r"stage 0: 2 probabilities for 3 openings"):
        problem.compile()


def test_first_stage_state_needs_an_initial_value():
    problem = Problem()
    stage = problem.add_stage()
    with pytest.raises(ProblemError, match=r"stage 0, state 'volume': the first stage needs an initial value"):
        stage.add_state("volume", upper=10.0)


def test_states_must_be_the_same_in_every_stage():
    problem = Problem()
    one_state_stage(problem)
    later = problem.add_stage()
    later.add_state("storage", upper=10.0)
    with pytest.raises(ProblemError, match=r"stage 1: states \['storage'\] differ from stage 0's \['volume'\]"):
        problem.compile()


def test_states_must_come_in_the_same_order():
    problem = Problem()
    for t in range(2):
        stage = problem.add_stage()
        names = ["a", "b"] if t == 0 else ["b", "a"]
        for name in names:
            stage.add_state(name, initial=0.0)
    with pytest.raises(ProblemError, match=r"same states in the same order"):
        problem.compile()


def test_lower_above_upper_is_refused():
    stage, _ = one_state_stage(Problem())
    with pytest.raises(ProblemError, match=r"variable 'x': lower bound 2.0 exceeds upper bound 1.0"):
        stage.add_variable("x", lower=2.0, upper=1.0)


def test_random_lower_above_upper_is_reported_with_its_opening():
    problem = Problem()
    stage, _ = one_state_stage(problem)
    low = stage.add_uncertain("low", [0.0, 3.0])
    stage.add_variable("x", lower=low, upper=2.0)
    with pytest.raises(ProblemError, match=r"variable 'x': lower bound exceeds upper bound in opening 1"):
        problem.compile()


def test_problem_without_states_or_stages_is_refused():
    with pytest.raises(ProblemError, match=r"no stages"):
        Problem().compile()
    problem = Problem()
    problem.add_stage().add_variable("x")
    with pytest.raises(ProblemError, match=r"no state variables"):
        problem.compile()


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_data_is_refused(value):
    stage, state = one_state_stage(Problem())
    with pytest.raises(ProblemError):
        stage.add_variable("x", cost=value)
    with pytest.raises(ProblemError):
        stage.add_uncertain("u", [1.0, value])
    with pytest.raises(ProblemError):
        stage.add_constraint({state.out: value}, "<=", 1.0)


def test_discount_must_be_positive():
    with pytest.raises(ProblemError, match=r"discount must be positive"):
        Problem().add_stage(discount=0.0)


# -- array form --------------------------------------------------------------------


def small_two_stage(sense: str = "min") -> Problem:
    """Stage 0: columns v, v_in, x; rows  v - v_in + x == 3 (row 0),  2x <= 4 (row 1).

    Stage 1: columns v, v_in, y (upper bound random: 1 or 2); rows
    v - v_in == rain (rain 0, 1 or 4; row 0),  y + v_in >= 1 (row 1).
    """
    problem = Problem(sense=sense, value_bound=-7.0 if sense == "min" else 7.0)
    stage = problem.add_stage(discount=0.5)
    v = stage.add_state("v", lower=0.0, upper=9.0, initial=2.0)
    x = stage.add_variable("x", lower=1.0, cost=3.0)
    stage.add_constraint({v.out: 1.0, v.incoming: -1.0, x: 1.0}, "==", 3.0)
    stage.add_constraint({x: 2.0}, "<=", 4.0)
    stage = problem.add_stage()
    v = stage.add_state("v", lower=0.0, upper=9.0)
    cap = stage.add_uncertain("cap", [1.0, 2.0, 2.0])
    rain = stage.add_uncertain("rain", [0.0, 1.0, 4.0])
    stage.set_probabilities([0.2, 0.3, 0.5])
    y = stage.add_variable("y", upper=cap, cost=-1.0)
    stage.add_constraint({v.out: 1.0, v.incoming: -1.0}, "==", rain)
    stage.add_constraint({y: 1.0, v.incoming: 1.0}, ">=", 1.0)
    return problem


def test_compile_gives_the_expected_arrays():
    compiled = small_two_stage().compile()
    first, second = compiled.templates
    assert compiled.n_stages == 2 and compiled.n_states == 1
    np.testing.assert_array_equal(compiled.initial_state, [2.0])
    assert compiled.state_names == ("v",)

    # stage 0: columns v, v_in, x, theta
    assert (first.num_rows, first.num_cols) == (2, 4)
    assert first.col_names == ("v", "v_in", "x", "theta")
    np.testing.assert_array_equal(first.dense_matrix(), [[1.0, -1.0, 1.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    np.testing.assert_array_equal(first.col_start, [0, 1, 2, 4, 4])  # CSC: theta has no template entries
    np.testing.assert_array_equal(first.row_lower, [3.0, -np.inf])
    np.testing.assert_array_equal(first.row_upper, [3.0, 4.0])
    np.testing.assert_array_equal(first.col_lower, [0.0, -np.inf, 1.0, -7.0])  # theta starts at value_bound
    np.testing.assert_array_equal(first.col_upper, [9.0, np.inf, np.inf, np.inf])
    np.testing.assert_array_equal(first.col_cost, [0.0, 0.0, 3.0, 0.5])  # theta weighted by the discount
    np.testing.assert_array_equal(first.state_out_cols, [0])
    np.testing.assert_array_equal(first.state_in_cols, [1])
    assert first.theta_col == 3 and first.discount == 0.5
    np.testing.assert_array_equal(first.probabilities, [1.0])
    assert first.row_patch_index.size == 0 and first.col_patch_index.size == 0
    assert first.row_patch_lower.shape == (1, 0) and first.col_patch_upper.shape == (1, 0)

    # stage 1: columns v, v_in, y, theta (fixed at 0: nothing comes after the last stage)
    assert (second.num_rows, second.num_cols) == (2, 4)
    np.testing.assert_array_equal(second.dense_matrix(), [[1.0, -1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(second.col_cost, [0.0, 0.0, -1.0, 0.0])
    assert second.col_lower[second.theta_col] == 0.0 and second.col_upper[second.theta_col] == 0.0
    np.testing.assert_array_equal(second.probabilities, [0.2, 0.3, 0.5])
    assert second.n_openings == 3
    np.testing.assert_array_equal(second.row_patch_index, [0])
    np.testing.assert_array_equal(second.row_patch_lower, [[0.0], [1.0], [4.0]])
    np.testing.assert_array_equal(second.row_patch_upper, [[0.0], [1.0], [4.0]])
    np.testing.assert_array_equal(second.col_patch_index, [2])
    np.testing.assert_array_equal(second.col_patch_lower, [[0.0], [0.0], [0.0]])
    np.testing.assert_array_equal(second.col_patch_upper, [[1.0], [2.0], [2.0]])
    np.testing.assert_array_equal(second.row_lower, [0.0, 1.0])  # static part of the random row is a placeholder
    np.testing.assert_array_equal(second.row_upper, [0.0, np.inf])

    for template in compiled.templates:  # the CSC arrays use the HiGHS index type
        assert template.col_start.dtype == np.int32 and template.row_index.dtype == np.int32
        assert template.col_patch_index.dtype == np.int32 and template.row_patch_index.dtype == np.int32


def test_maximisation_is_negated_into_a_minimisation():
    compiled = small_two_stage("max").compile()
    first, second = compiled.templates
    assert compiled.sign == -1.0
    np.testing.assert_array_equal(first.col_cost, [0.0, 0.0, -3.0, 0.5])  # theta's discount keeps its sign
    np.testing.assert_array_equal(second.col_cost, [0.0, 0.0, 1.0, 0.0])
    assert first.col_lower[first.theta_col] == -7.0  # an upper bound of 7 on the profit-to-go


def test_repeated_terms_of_a_constraint_are_summed():
    problem = Problem()
    stage, state = one_state_stage(problem)
    x = stage.add_variable("x")
    stage.add_constraint({state.out: 1.0, x: 2.0}, "<=", 1.0)
    stage.add_constraint({x: 0.0, state.out: 3.0}, ">=", -1.0)  # a zero coefficient stores nothing
    template = problem.compile().templates[0]
    np.testing.assert_array_equal(template.dense_matrix()[:, :3], [[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    assert template.nnz == 3


# -- deterministic equivalent ------------------------------------------------------


def hand_solved(sense: str) -> Problem:
    """Two months of a reservoir with one known inflow each (one opening per stage).

    Month 0: demand 8, thermal at 2 per unit, hydro free, 10 units stored.
    Month 1: demand 12, thermal at 5 per unit, inflow 3, weighted by discount 0.3.
    Month 1's thermal costs 0.3 * 5 = 1.5 < 2 in month-0 money, so thermal is
    cheaper later: month 0 runs hydro 8 (storing 2), month 1 runs hydro 2 + 3 = 5
    and thermal 7. Optimum: 0.3 * 5 * 7 = 10.5.
    """
    sign = 1.0 if sense == "min" else -1.0
    problem = Problem(sense=sense)
    for t, (demand, fuel, inflow) in enumerate([(8.0, 2.0, 0.0), (12.0, 5.0, 3.0)]):
        stage = problem.add_stage(discount=0.3)
        volume = stage.add_state("volume", upper=100.0, initial=10.0)
        rain = stage.add_uncertain("inflow", [inflow]) if t == 1 else inflow
        thermal = stage.add_variable("thermal", cost=sign * fuel)
        hydro = stage.add_variable("hydro")
        stage.add_constraint({thermal: 1.0, hydro: 1.0}, "==", demand)
        stage.add_constraint({volume.out: 1.0, hydro: 1.0, volume.incoming: -1.0}, "==", rain)
    return problem


def test_deterministic_equivalent_of_a_hand_solved_problem():
    result = caudal.deterministic_equivalent(hand_solved("min"))
    assert result.status == "Optimal"
    assert result.objective == pytest.approx(10.5, rel=1e-9)
    assert result.nodes == 2
    np.testing.assert_allclose(result.first_stage_states, [[2.0]], atol=1e-9)


def test_deterministic_equivalent_of_the_maximisation_has_the_opposite_value():
    assert caudal.deterministic_equivalent(hand_solved("max")).objective == pytest.approx(-10.5, rel=1e-9)


def test_sddp_solves_the_hand_solved_problem():
    result = caudal.train(hand_solved("min"), iterations=5)
    assert result.lower_bound == pytest.approx(10.5, rel=1e-9)
    assert result.history[-1].upper_bound_mean == pytest.approx(10.5, rel=1e-9)  # no uncertainty: exact


def test_a_later_stage_initial_value_must_agree_with_the_first():
    problem = caudal.Problem()
    for initial in (5.0, 7.0):
        stage = problem.add_stage()
        stage.add_state("volume", upper=10.0, initial=initial)
        stage.add_variable("spill", cost=1.0)
    with pytest.raises(caudal.ProblemError, match="stage 1, state 'volume': initial value 7.0 differs"):
        problem.compile()
