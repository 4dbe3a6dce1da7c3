"""A trained policy as an object: loaded from a run folder, evaluated stage by stage, simulated."""

from __future__ import annotations

import numpy as np
import pytest
from hydro_problems import random_hydro

import caudal
from caudal.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A short training of a stochastic problem into a run folder."""
    problem = random_hydro(2, 4, 3, seed=5)
    folder = tmp_path_factory.mktemp("run")
    result = caudal.train(problem, iterations=6, forward_passes=2, threads=1, output=folder, profile=False)
    return problem, result, folder


def test_a_loaded_policy_is_the_trained_one(run) -> None:
    problem, result, folder = run
    loaded = caudal.load_policy(folder, problem=problem)
    assert loaded.digest() == result.policy.digest()
    assert loaded.source.endswith(".caudal")
    visited = caudal.simulate(result, scenarios=6, threads=1)
    for stage in range(1, problem.compile().n_stages + 1):
        for state in visited.states[:, stage - 1]:
            assert loaded.value(stage, state) == result.policy.value(stage, state)
            assert loaded.value(stage, state) == pytest.approx(result.policy.cost_to_go(stage - 1, state)[0])
    again = caudal.simulate(loaded, scenarios=6, threads=1)
    np.testing.assert_array_equal(again.total_costs, visited.total_costs)


def test_evaluate_agrees_with_value_and_with_the_simulation(run) -> None:
    problem, result, folder = run
    policy = caudal.load_policy(folder, problem=problem)
    simulated = caudal.simulate(policy, scenarios=3, threads=1)
    compiled = problem.compile()
    for stage in range(1, compiled.n_stages + 1):
        # from the simulation's incoming state: the optimum's value is unique, its vertex may not be
        state = compiled.initial_state if stage == 1 else simulated.states[0, stage - 2]
        opening = int(simulated.openings[0, stage - 1]) + 1
        decision = policy.evaluate(stage, state, opening)
        assert decision.stage == stage and decision.opening == opening
        expected = simulated.stage_costs[0, stage - 1] + simulated.future_costs[0, stage - 1]
        assert decision.objective == pytest.approx(expected, rel=1e-9, abs=1e-6)
        assert decision.cost_to_go == pytest.approx(policy.value(stage, list(decision.states.values())),
                                                     rel=1e-9, abs=1e-6)
        assert set(decision.values) >= {"hydro0", "deficit", "thermal0"}


def test_evaluate_on_a_deterministic_case_reproduces_the_deterministic_equivalent() -> None:
    problem = random_hydro(2, 4, 1, seed=3)  # one opening per stage: one scenario
    result = caudal.train(problem, iterations=10, threads=1)
    exact = caudal.deterministic_equivalent(problem)
    assert result.lower_bound == pytest.approx(exact.objective, rel=1e-9)
    policy = result.policy
    compiled = problem.compile()
    first = policy.evaluate(1, compiled.initial_state)  # a single opening needs no noise
    assert first.objective == pytest.approx(exact.objective, rel=1e-9)
    # walking the decisions stage by stage costs what the deterministic equivalent says
    state, total, factor = compiled.initial_state, 0.0, 1.0
    for stage in range(1, compiled.n_stages + 1):
        decision = policy.evaluate(stage, state, 1)
        total += factor * decision.stage_cost
        factor *= compiled.templates[stage - 1].discount
        state = np.array(list(decision.states.values()))
    assert total == pytest.approx(exact.objective, rel=1e-9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p, x: p.evaluate(0, x, 1), r"stage must be 1\.\.4 \(stages count from 1\), got 0"),
        (lambda p, x: p.evaluate(5, x, 1), r"stage must be 1\.\.4"),
        (lambda p, x: p.value(5, x), r"stage must be 1\.\.4"),
        (lambda p, x: p.evaluate(1, x[:1], 1), r"state has 1 values, the problem 2 states \['v0', 'v1'\]"),
        (lambda p, x: p.value(1, [1.0, 2.0, 3.0]), r"state has 3 values"),
        (lambda p, x: p.evaluate(1, {"v0": 1.0, "vx": 2.0}, 1), r"unknown \['vx'\], missing \['v1'\]"),
        (lambda p, x: p.evaluate(1, x, 0), r"stage 1 has openings 1\.\.3, got noise=0"),
        (lambda p, x: p.evaluate(1, x, 4), r"openings 1\.\.3, got noise=4"),
        (lambda p, x: p.evaluate(1, x), r"stage 1 has 3 openings: say which"),
    ],
)
def test_bad_inputs_are_clear_errors(run, call, message) -> None:
    problem, result, _ = run
    with pytest.raises(ValueError, match=message):
        call(result.policy, problem.compile().initial_state)


def test_load_policy_finds_an_embedded_case_by_its_name(tmp_path) -> None:
    result = caudal.train(caudal.examples.brazil4(stages=2), iterations=1, threads=1, output=tmp_path, profile=False)
    loaded = caudal.load_policy(tmp_path)  # no problem given: brazil4, 2 stages, from the checkpoint
    assert loaded.problem.n_stages == 2
    assert loaded.digest() == result.policy.digest()


def test_load_policy_refuses_what_it_cannot_match(run, tmp_path) -> None:
    problem, _, folder = run
    with pytest.raises(CheckpointError, match=r"cannot find its case 'random hydro 2x4x3 seed 5'.*problem="):
        caudal.load_policy(folder)
    with pytest.raises(CheckpointError, match="case fingerprint mismatch"):
        caudal.load_policy(folder, problem=random_hydro(2, 4, 3, seed=6))
    with pytest.raises(CheckpointError, match="holds no valid checkpoint"):
        caudal.load_policy(tmp_path, problem=problem)
