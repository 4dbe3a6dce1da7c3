"""Stopping rules: each fires for its own reason, and any/all combine them."""

from __future__ import annotations

import pytest
from problems import first_steps

import caudal
from caudal.sddp.records import IterationRecord
from caudal.sddp.stopping import StopContext, first_that_stops


def record(i: int, lower: float, mean: float = 10.0, half: float = 0.0) -> IterationRecord:
    return IterationRecord(i, lower, mean, mean - half, mean + half, float(i), 10 * i)


def context(history, elapsed=0.0, simulate=None) -> StopContext:
    return StopContext(history, elapsed, simulate or (lambda n, seed: None))


def test_bound_stalling_waits_for_a_flat_bound():
    rule = caudal.BoundStalling(tolerance=1e-3, iterations=2)
    rising = [record(1, 1.0), record(2, 5.0), record(3, 9.0)]
    flat = rising + [record(4, 9.0), record(5, 9.000001)]
    assert not rule.should_stop(context(rising))
    assert rule.should_stop(context(flat))


def test_statistical_gap_needs_the_bound_near_the_interval():
    rule = caudal.StatisticalGap(gap=0.05)
    assert rule.should_stop(context([record(1, 99.0, mean=100.0, half=2.0)]))
    assert not rule.should_stop(context([record(1, 80.0, mean=100.0, half=2.0)]))


def test_simulation_stalling_compares_consecutive_simulations():
    means = iter([100.0, 150.0, 150.01])
    rule = caudal.SimulationStalling(scenarios=10, period=1, tolerance=1e-3)
    simulate = lambda n, seed: [next(means)] * n  # noqa: E731
    verdicts = [rule.should_stop(context([record(i, 1.0)], simulate=simulate)) for i in (1, 2, 3)]
    assert verdicts == [False, False, True]


def test_any_and_all_combine_rules():
    history = [record(1, 1.0), record(2, 1.0), record(3, 1.0)]
    stalls = caudal.BoundStalling(tolerance=1e-9, iterations=1)
    gap = caudal.StatisticalGap(gap=1e-6)  # does not hold: bound 1, mean 10
    assert first_that_stops([], [stalls, gap], "any", context(history)) == "bound_stalling"
    assert first_that_stops([], [stalls, gap], "all", context(history)) is None


def test_training_stops_on_a_stalled_bound_with_the_right_status():
    result = caudal.train(first_steps(), iterations=200, stopping_rules=[caudal.BoundStalling(1e-9, 5)])
    assert result.status == "bound_stalling"
    assert result.iterations < 200
    assert result.lower_bound == pytest.approx(8333.3333, rel=1e-6)


def test_simulation_stalling_inside_training():
    rule = caudal.SimulationStalling(scenarios=60, period=5, tolerance=1e-2)
    result = caudal.train(first_steps(), iterations=200, stopping_rules=[rule])
    assert result.status == "simulation_stalling"
    assert result.iterations % 5 == 0


def test_iteration_limit_applies_even_when_rules_must_all_hold():
    result = caudal.train(first_steps(), iterations=4, stopping_rules=[caudal.StatisticalGap(0.0)], stop_when="all")
    assert (result.status, result.iterations) == ("iteration_limit", 4)


def test_a_non_rule_is_refused():
    with pytest.raises(TypeError, match="not a stopping rule"):
        caudal.train(first_steps(), iterations=2, stopping_rules=[object()])
