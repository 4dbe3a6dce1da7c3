"""Risk measures, applied in the backward pass to the values of a stage's openings.

A risk measure turns the openings' probabilities ``p`` and values ``Z`` (costs:
higher is worse, whatever the problem's sense) into the weights ``q`` of a
*change of measure*: the risk-adjusted value is ``q . Z`` and the cut averages
the openings' linearisations with ``q`` instead of ``p``.

To add a risk measure, define one method::

    class MyMeasure:
        def weights(self, probabilities: np.ndarray, values: np.ndarray) -> np.ndarray:
            '''Non-negative weights summing to 1, one per opening.'''

The weights must depend only on the arguments, so that cuts stay bit-identical
whatever the layout. :func:`check_weights` tests an implementation's output.

Optionally, ``lp_form() -> tuple[float, float]`` returns ``(lambda, alpha)`` of
the equivalent ``(1 - lambda) E + lambda CVaR_alpha`` for the exact risk-averse
deterministic equivalent used in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class RiskMeasure(Protocol):
    """Turns probabilities and values of a stage's openings into cut weights."""

    def weights(self, probabilities: np.ndarray, values: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Expectation:
    """Risk neutral: the weights are the probabilities."""

    def weights(self, probabilities: np.ndarray, values: np.ndarray) -> np.ndarray:
        return probabilities

    def lp_form(self) -> tuple[float, float]:
        return 0.0, 1.0


@dataclass(frozen=True)
class CVaR:
    """Conditional value at risk: the mean of the worst ``alpha`` fraction of outcomes.

    ``alpha = 1`` is the expectation; ``alpha -> 0`` the worst case.
    """

    alpha: float

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"CVaR level alpha must be in (0, 1], got {self.alpha}")

    def weights(self, probabilities: np.ndarray, values: np.ndarray) -> np.ndarray:
        order = np.argsort(-values, kind="stable")  # worst first; ties keep opening order
        weights = np.zeros_like(probabilities)
        budget = self.alpha
        for o in order:
            take = min(probabilities[o], budget)
            weights[o] = take / self.alpha
            budget -= take
            if budget <= 0.0:
                break
        return weights

    def lp_form(self) -> tuple[float, float]:
        return 1.0, self.alpha


@dataclass(frozen=True)
class EAVaR:
    """``(1 - lam) E + lam CVaR_alpha``: expectation with a weight on the tail."""

    lam: float
    alpha: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"EAVaR weight lambda must be in [0, 1], got {self.lam}")
        CVaR(self.alpha)  # validates alpha

    def weights(self, probabilities: np.ndarray, values: np.ndarray) -> np.ndarray:
        tail = CVaR(self.alpha).weights(probabilities, values)
        return (1.0 - self.lam) * probabilities + self.lam * tail

    def lp_form(self) -> tuple[float, float]:
        return self.lam, self.alpha


RiskSpec = RiskMeasure | Sequence[RiskMeasure] | Callable[[int], RiskMeasure] | None


def per_stage(spec: RiskSpec, n_stages: int) -> list[RiskMeasure]:
    """One measure per stage from a single measure, a list, or a function of the stage."""
    if spec is None:
        return [Expectation()] * n_stages
    if hasattr(spec, "weights"):
        return [spec] * n_stages  # type: ignore[list-item]
    if callable(spec):
        return [spec(t) for t in range(n_stages)]
    measures = list(spec)
    if len(measures) != n_stages:
        raise ValueError(f"{len(measures)} risk measures for {n_stages} stages")
    return measures


def check_weights(weights: np.ndarray, probabilities: np.ndarray) -> None:
    """Raise if ``weights`` are not a probability vector over the same openings."""
    if weights.shape != probabilities.shape:
        raise ValueError(f"risk weights have shape {weights.shape}, openings {probabilities.shape}")
    if np.any(weights < -1e-12) or abs(float(weights.sum()) - 1.0) > 1e-9:
        raise ValueError("risk weights must be non-negative and sum to 1")
