"""Risk measures against an independent exact reference.

The reference is the nested risk-averse deterministic equivalent: the whole
tree as one LP with CVaR in its LP form at every node, solved by HiGHS. SDDP's
converged bound with the same measure at every stage must equal it.
"""

from __future__ import annotations

import numpy as np
import pytest
from problems import first_steps

import caudal
from caudal.sddp.risk import check_weights


def two_reservoirs(seed: int) -> caudal.Problem:
    """Two reservoirs in cascade, three stages, random inflow openings (first stage too)."""
    rng = np.random.default_rng(seed)
    problem = caudal.Problem(name=f"two reservoirs {seed}")
    for t in range(3):
        stage = problem.add_stage(discount=0.95)
        up = stage.add_state("upper", lower=0, upper=80, initial=30)
        down = stage.add_state("lower", lower=0, upper=60, initial=20)
        n_open = 3
        inflow_up = stage.add_uncertain("inflow_up", rng.uniform(0, 40, n_open).round(1))
        inflow_down = stage.add_uncertain("inflow_down", rng.uniform(0, 20, n_open).round(1))
        stage.set_probabilities(rng.dirichlet(np.ones(n_open)))
        release_up = stage.add_variable("release_up", upper=50)
        release_down = stage.add_variable("release_down", upper=50)
        spill_up = stage.add_variable("spill_up", cost=0.01)
        spill_down = stage.add_variable("spill_down", cost=0.01)
        thermal = stage.add_variable("thermal", upper=70, cost=10.0 + 5 * t)
        deficit = stage.add_variable("deficit", cost=500.0)
        stage.add_constraint({up.out: 1, release_up: 1, spill_up: 1, up.incoming: -1}, "==", inflow_up)
        stage.add_constraint(
            {down.out: 1, release_down: 1, spill_down: 1, down.incoming: -1, release_up: -1, spill_up: -1},
            "==",
            inflow_down,
        )
        stage.add_constraint({release_up: 1.2, release_down: 0.9, thermal: 1, deficit: 1}, ">=", 90)
    return problem


MEASURES = [
    caudal.CVaR(0.5),
    caudal.CVaR(0.2),
    caudal.EAVaR(0.5, 0.25),
    caudal.EAVaR(0.3, 0.6),
    caudal.Expectation(),
]


@pytest.mark.parametrize("measure", MEASURES, ids=repr)
@pytest.mark.parametrize("builder", [first_steps, lambda: two_reservoirs(3)], ids=["first_steps", "reservoirs"])
def test_converged_bound_equals_nested_risk_averse_equivalent(builder, measure):
    problem = builder()
    exact = caudal.deterministic_equivalent(problem, measure).objective
    result = caudal.train(problem, iterations=40, forward_passes=4, seed=2, risk_measure=measure)
    assert result.lower_bound == pytest.approx(exact, rel=1e-6)
    # every iteration's bound is a lower bound of the risk-averse optimum
    assert all(r.lower_bound <= exact * (1 + 1e-9) + 1e-7 for r in result.history)


def test_risk_aversion_raises_the_value():
    problem = two_reservoirs(5)
    neutral = caudal.deterministic_equivalent(problem).objective
    averse = caudal.deterministic_equivalent(problem, caudal.CVaR(0.3)).objective
    assert averse > neutral


def test_cvar_weights_put_the_mass_on_the_worst_outcomes():
    probabilities = np.array([0.1, 0.2, 0.3, 0.4])
    values = np.array([5.0, 1.0, 9.0, 3.0])
    weights = caudal.CVaR(0.35).weights(probabilities, values)
    check_weights(weights, probabilities)
    # worst is opening 2 (p=0.3), then opening 0 takes the remaining 0.05
    assert np.allclose(weights, [0.05 / 0.35, 0.0, 0.3 / 0.35, 0.0])
    assert weights @ values == pytest.approx((0.3 * 9 + 0.05 * 5) / 0.35)


def test_eavar_mixes_expectation_and_tail():
    probabilities = np.full(4, 0.25)
    values = np.array([1.0, 2.0, 3.0, 4.0])
    weights = caudal.EAVaR(0.5, 0.25).weights(probabilities, values)
    assert np.allclose(weights, 0.5 * probabilities + 0.5 * np.array([0, 0, 0, 1.0]))


@pytest.mark.parametrize("bad", [lambda: caudal.CVaR(0.0), lambda: caudal.CVaR(1.5), lambda: caudal.EAVaR(2, 0.5)])
def test_invalid_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        bad()
