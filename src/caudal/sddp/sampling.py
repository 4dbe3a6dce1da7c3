"""Forward sampling: which opening each stage takes in a forward pass.

The scenario of forward pass ``k`` in iteration ``i`` is drawn from a random
stream keyed by ``(seed, i, k)`` alone, never by rank or thread, so the same seed
gives the same scenarios whatever the layout, and a resumed run draws exactly
what an uninterrupted one would have.
"""

from __future__ import annotations

import numpy as np

from caudal.model.problem import CompiledProblem

TRAINING = 0
SIMULATION = 1
"""Purposes of a random stream: training and simulation never share scenarios."""


def scenario_stream(seed: int, iteration: int, forward_pass: int, purpose: int = TRAINING) -> np.random.Generator:
    """The random stream of one forward pass."""
    return np.random.default_rng(np.random.SeedSequence([seed, purpose, iteration, forward_pass]))


class InSampleSampler:
    """Draws each stage's opening with the stage's probabilities (the default scheme)."""

    def __init__(self, problem: CompiledProblem, seed: int, purpose: int = TRAINING):
        self.seed = int(seed)
        self.purpose = purpose
        self._cumulative = [np.cumsum(t.probabilities) for t in problem.templates]

    def openings(self, iteration: int, forward_pass: int) -> np.ndarray:
        """int32[n_stages]: the opening of every stage in this forward pass."""
        uniforms = scenario_stream(self.seed, iteration, forward_pass, self.purpose).random(len(self._cumulative))
        out = np.empty(len(self._cumulative), dtype=np.int32)
        for t, cumulative in enumerate(self._cumulative):
            out[t] = min(int(np.searchsorted(cumulative, uniforms[t], side="right")), cumulative.size - 1)
        return out

    def scenarios(self, iteration: int, forward_passes: int) -> np.ndarray:
        """int32[forward_passes, n_stages]: the openings of every pass of an iteration."""
        return np.stack([self.openings(iteration, k) for k in range(forward_passes)])
