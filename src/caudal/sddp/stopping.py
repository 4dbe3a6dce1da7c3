"""Stopping rules: when a training has done enough.

A rule defines one method and a name::

    class MyRule:
        name = "my_rule"                      # the run's status when it fires
        def should_stop(self, context: StopContext) -> bool: ...

Every rank evaluates the rules on the same history and on rank 0's clock, so
all ranks stop at the same iteration. The iteration limit and time limit of
:func:`caudal.train` always apply; the other rules are combined with ``any``
(the first that holds stops the run, the default) or ``all``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from caudal.sddp.records import IterationRecord


@dataclass
class StopContext:
    """What a rule may look at after an iteration."""

    history: Sequence[IterationRecord]
    elapsed: float  # seconds of this run, as rank 0 measured them
    simulate: Callable[[int, int], np.ndarray]  # (scenarios, seed) -> total cost of each, problem's sense


class StoppingRule(Protocol):
    name: str

    def should_stop(self, context: StopContext) -> bool: ...


@dataclass
class IterationLimit:
    """Stop after ``limit`` iterations."""

    limit: int
    name: str = "iteration_limit"

    def should_stop(self, context: StopContext) -> bool:
        return context.history[-1].iteration >= self.limit


@dataclass
class TimeLimit:
    """Stop after the iteration during which ``seconds`` have passed."""

    seconds: float
    name: str = "time_limit"

    def should_stop(self, context: StopContext) -> bool:
        return context.elapsed >= self.seconds


@dataclass
class BoundStalling:
    """Stop when the bound moved less than ``tolerance`` (relative) over ``iterations`` iterations."""

    tolerance: float = 1e-4
    iterations: int = 10
    name: str = "bound_stalling"

    def should_stop(self, context: StopContext) -> bool:
        history = context.history
        if len(history) <= self.iterations:
            return False
        now, then = history[-1].lower_bound, history[-1 - self.iterations].lower_bound
        return abs(now - then) <= self.tolerance * max(1.0, abs(now))


@dataclass
class StatisticalGap:
    """Stop when the bound lies within ``gap`` (relative) of the simulated cost's 95% interval.

    Needs at least 30 forward passes per iteration (``MIN_INTERVAL_SAMPLES``):
    with fewer there is no interval and the rule never holds. For a risk-averse
    policy the simulated cost is no bound, so use the other rules.
    """

    gap: float = 0.01
    name: str = "statistical_gap"

    def should_stop(self, context: StopContext) -> bool:
        last = context.history[-1]
        scale = max(abs(last.upper_bound_mean), 1e-10)
        far_end = max(abs(last.upper_bound_high - last.lower_bound), abs(last.upper_bound_low - last.lower_bound))
        return far_end / scale <= self.gap


@dataclass
class SimulationStalling:
    """Stop when two policy simulations ``period`` iterations apart agree.

    Every ``period`` iterations the policy is simulated on the same
    ``scenarios`` sampled scenarios; the rule holds when the mean cost moved
    less than ``tolerance`` (relative) since the previous simulation.
    """

    scenarios: int = 100
    period: int = 20
    tolerance: float = 1e-3
    seed: int = 2_147_483_647
    name: str = "simulation_stalling"
    _previous: float | None = field(default=None, repr=False)

    def should_stop(self, context: StopContext) -> bool:
        if context.history[-1].iteration % self.period:
            return False
        mean = float(np.mean(context.simulate(self.scenarios, self.seed)))
        previous, self._previous = self._previous, mean
        return previous is not None and abs(mean - previous) <= self.tolerance * max(1.0, abs(mean))


def first_that_stops(
    limits: Sequence[StoppingRule], rules: Sequence[StoppingRule], mode: str, context: StopContext
) -> str | None:
    """The name of the rule that stops the run now, or ``None`` to go on.

    ``limits`` always apply; ``rules`` stop the run when any (``mode="any"``) or
    all (``mode="all"``) of them hold.
    """
    for limit in limits:
        if limit.should_stop(context):
            return limit.name
    if not rules:
        return None
    verdicts = [rule.should_stop(context) for rule in rules]  # every rule sees every iteration
    if mode == "any":
        return next((rule.name for rule, stop in zip(rules, verdicts, strict=True) if stop), None)
    if mode == "all":
        return "+".join(rule.name for rule in rules) if all(verdicts) else None
    raise ValueError(f"stop_when must be 'any' or 'all', got {mode!r}")


def check_rules(rules: Sequence[object]) -> None:
    for rule in rules:
        if not callable(getattr(rule, "should_stop", None)) or not isinstance(getattr(rule, "name", None), str):
            raise TypeError(f"{rule!r} is not a stopping rule (needs a name and should_stop(context))")

