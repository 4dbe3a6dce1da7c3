"""Property tests: SDDP's bound on random small problems against their deterministic equivalent.

For a finite scenario tree with complete recourse, SDDP's lower bound (upper
bound when maximising) is valid at every iteration and reaches the optimum
exactly after finitely many iterations, once the forward passes have visited
the states that matter. The trees here have at most 3 stages of at most 3
openings (27 paths) and every iteration runs 6 forward passes, so within the
40 iterations allowed each path is expected to be sampled several times over.
Over 800 random problems drawn like these, the bound met the optimum by
iteration 18 at the latest (most by iteration 3), so 40 leaves a wide margin.

The reference is the deterministic equivalent: the whole tree as one LP,
solved by HiGHS without cuts, so it shares no code with the cut machinery.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from problems import RandomSpec, deterministic_optimum, random_problem

import caudal

ITERATIONS = 40
FORWARD_PASSES = 6

VALID = 1e-6
"""A bound may cross the optimum by LP tolerances only: 1e-6 relative, plus ..."""
VALID_ABSOLUTE = 1e-7
"""... a small absolute slack for optima near zero."""

EXACT = 1e-6
"""Relative distance from the optimum at which the bound counts as converged."""


@st.composite
def random_specs(draw: st.DrawFn, sense: str = "min") -> RandomSpec:
    stages = draw(st.integers(min_value=2, max_value=3))
    return RandomSpec(
        seed=draw(st.integers(min_value=0, max_value=2**32 - 1)),
        openings=tuple(draw(st.lists(st.integers(1, 3), min_size=stages, max_size=stages))),
        states=draw(st.integers(min_value=1, max_value=2)),
        probabilities=draw(st.booleans()),
        discount=draw(st.sampled_from([1.0, 0.9])),
        sense=sense,
    )


def check_bound(spec: RandomSpec, training_seed: int) -> None:
    problem = random_problem(spec)
    optimum = deterministic_optimum(problem)
    result = caudal.train(problem, iterations=ITERATIONS, forward_passes=FORWARD_PASSES, seed=training_seed)
    assert len(result.history) == ITERATIONS
    sign = 1.0 if spec.sense == "min" else -1.0  # turn a maximisation's bound into a lower bound
    slack = VALID * abs(optimum) + VALID_ABSOLUTE
    bounds = [sign * record.lower_bound for record in result.history]
    for iteration, bound in enumerate(bounds, start=1):
        assert bound <= sign * optimum + slack, f"iteration {iteration}: bound {bound} beyond optimum {optimum}"
    for iteration, (before, after) in enumerate(zip(bounds, bounds[1:], strict=False), start=2):
        # Cuts are only ever added, so the first-stage LP can only get more constrained.
        assert after >= before - slack, f"iteration {iteration}: bound fell from {before} to {after}"
    assert abs(result.lower_bound - optimum) <= EXACT * max(abs(optimum), 1.0), (
        f"bound {result.lower_bound} did not reach the optimum {optimum} in {ITERATIONS} iterations"
    )
    if all(n == 1 for n in spec.openings):
        # No uncertainty: once the policy is optimal, its one forward pass costs exactly the optimum.
        assert abs(result.history[-1].upper_bound_mean - optimum) <= EXACT * max(abs(optimum), 1.0)


@settings(max_examples=60, deadline=None)
@given(spec=random_specs(), training_seed=st.integers(min_value=0, max_value=1000))
def test_lower_bound_is_valid_and_reaches_the_optimum(spec: RandomSpec, training_seed: int) -> None:
    check_bound(spec, training_seed)


@settings(max_examples=30, deadline=None)
@given(spec=random_specs(sense="max"), training_seed=st.integers(min_value=0, max_value=1000))
def test_upper_bound_of_a_maximisation_is_valid_and_reaches_the_optimum(spec: RandomSpec, training_seed: int) -> None:
    check_bound(spec, training_seed)


@settings(max_examples=10, deadline=None)
@given(spec=random_specs())
def test_maximising_the_negated_costs_gives_the_negated_optimum(spec: RandomSpec) -> None:
    """The deterministic equivalent itself respects the sense (the reference of the tests above)."""
    minimum = deterministic_optimum(random_problem(spec))
    maximum = deterministic_optimum(random_problem(replace(spec, sense="max")))
    assert abs(maximum + minimum) <= 1e-9 * max(abs(minimum), 1.0)
