"""Known values: a published optimum and exact deterministic equivalents.

* SDDP.jl's "first steps" tutorial problem has optimal expected cost 8333.33
  (published, to two decimals). Its first stage is uncertain too, so the lower
  bound must be the expectation over the first stage's openings.
* brazil4 at 2 and 3 stages, with a few openings so that the scenario tree is
  small, must train to its own deterministic equivalent (one LP of the whole
  tree, solved by HiGHS independently of SDDP) to 1e-6 relative.

Mutation check (done once, by hand, while writing these tests): flipping the
sign of the cut coefficients in ``caudal.sddp.passes.expected_cut``
(``coefficients = -(probabilities @ subgradients)``) makes every training test
here fail (first steps min and max, brazil4 at 2 and 3 stages), as well as the
property tests of ``test_convergence_properties.py``; the deterministic
equivalent tests, which do not use cuts, stay green as they should.
"""

from __future__ import annotations

import pytest
from problems import FIRST_STEPS_OPTIMUM, deterministic_optimum, first_steps

import caudal
import caudal.examples
from caudal.solver.choice import resolve_solver


def native_available() -> bool:
    try:
        return resolve_solver("native") == "native"
    except RuntimeError:
        return False


SOLVERS = [
    "highspy",
    pytest.param("native", marks=pytest.mark.skipif(not native_available(), reason="native solver not built")),
]
"""Both kernels must reach the same known values: each is a check on the other."""

PUBLISHED = 1e-4
"""8333.33 is published to two decimals: 1e-4 relative is what it can support."""

EXACT = 1e-6
"""SDDP on a finite tree converges exactly; 1e-6 relative leaves room for LP tolerances only."""


def test_first_steps_deterministic_equivalent_matches_the_published_value():
    assert deterministic_optimum(first_steps()) == pytest.approx(FIRST_STEPS_OPTIMUM, rel=PUBLISHED)


@pytest.mark.parametrize("solver", SOLVERS)
def test_first_steps_trains_to_the_published_value(solver):
    result = caudal.train(first_steps(), iterations=20, forward_passes=3, seed=1, solver=solver)
    assert result.lower_bound == pytest.approx(FIRST_STEPS_OPTIMUM, rel=PUBLISHED)
    # A lower bound, at every iteration, of the true optimum (the DE, exact).
    optimum = deterministic_optimum(first_steps())
    assert all(record.lower_bound <= optimum * (1 + 1e-9) for record in result.history)


def test_first_steps_maximising_negated_costs_gives_the_negated_value():
    result = caudal.train(first_steps("max"), iterations=20, forward_passes=3, seed=1)
    assert result.lower_bound == pytest.approx(-FIRST_STEPS_OPTIMUM, rel=PUBLISHED)
    # When maximising, the policy's bound is an upper bound at every iteration.
    optimum = deterministic_optimum(first_steps("max"))
    assert optimum == pytest.approx(-FIRST_STEPS_OPTIMUM, rel=PUBLISHED)
    assert all(record.lower_bound >= optimum * (1 + 1e-9) for record in result.history)
    assert all(record.upper_bound_mean <= 0.0 for record in result.history)  # profits of a cost-only problem


def test_first_steps_bound_is_the_expectation_over_first_stage_openings():
    """One opening less in stage 0 moves the bound: the first stage is not deterministic."""
    deterministic_start = caudal.Problem(name="first steps, dry start")
    for t, fuel_cost in enumerate((50.0, 100.0, 150.0)):
        stage = deterministic_start.add_stage()
        volume = stage.add_state("volume", lower=0, upper=200, initial=200)
        inflow = stage.add_uncertain("inflow", [0.0] if t == 0 else [0.0, 50.0, 100.0])
        thermal = stage.add_variable("thermal", cost=fuel_cost)
        hydro = stage.add_variable("hydro")
        spill = stage.add_variable("spill")
        stage.add_constraint({thermal: 1, hydro: 1}, "==", 150)
        stage.add_constraint({volume.out: 1, hydro: 1, spill: 1, volume.incoming: -1}, "==", inflow)
    optimum = deterministic_optimum(deterministic_start)
    assert optimum > FIRST_STEPS_OPTIMUM * (1 + 1e-3)  # a dry first month costs more than an uncertain one
    result = caudal.train(deterministic_start, iterations=20, forward_passes=3, seed=1)
    assert result.lower_bound == pytest.approx(optimum, rel=EXACT)


# Iteration limits leave about twice what is needed: over training seeds 0-7, with
# either solver, the bound met the DE by iteration 7 (2 stages) and 15 (3 stages).
@pytest.mark.parametrize(
    "stages,openings,forward_passes,iterations",
    [
        (2, 10, 1, 15),  # 10 paths: a two-stage Benders decomposition
        (3, 5, 4, 30),  # 25 paths
        (3, 10, 8, 30),  # 100 paths
    ],
)
@pytest.mark.parametrize("solver", SOLVERS)
def test_brazil4_trains_to_its_deterministic_equivalent(stages, openings, forward_passes, iterations, solver):
    problem = caudal.examples.brazil4(stages=stages, openings=openings)
    optimum = deterministic_optimum(problem)
    result = caudal.train(
        problem, iterations=iterations, forward_passes=forward_passes, seed=0, solver=solver
    )
    assert all(record.lower_bound <= optimum * (1 + 1e-9) for record in result.history)
    assert result.lower_bound == pytest.approx(optimum, rel=EXACT)
