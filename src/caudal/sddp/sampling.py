"""Forward sampling: which realisation each stage takes in a forward pass.

The scenario of forward pass ``k`` in iteration ``i`` is drawn from a random
stream keyed by ``(seed, purpose, i, k)`` alone, never by rank or thread, so the
same seed gives the same scenarios whatever the layout, and a resumed run draws
exactly what an uninterrupted one would have.

Schemes
-------
* :class:`InSample` (default): each stage's openings, with their probabilities.
* :class:`OutOfSample`: a separate table of realisations per stage (say, draws
  from a fitted inflow model while the openings are the historical years).
* :class:`Historical`: whole scenarios given by the user (say, the historical
  inflow sequences), one drawn per forward pass.

Out-of-sample and historical realisations are compiled into the stage
templates as extra patch rows after the openings: forward passes may visit them,
the backward pass never does. To add a scheme, define the two methods below.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from caudal.model.problem import CompiledProblem, Problem

TRAINING = 0
SIMULATION = 1
"""Purposes of a random stream: training and simulation never share scenarios."""


def scenario_stream(seed: int, iteration: int, forward_pass: int, purpose: int = TRAINING) -> np.random.Generator:
    """The random stream of one forward pass."""
    return np.random.default_rng(np.random.SeedSequence([seed, purpose, iteration, forward_pass]))


class SamplingScheme(Protocol):
    def forward_realisations(self, problem: Problem) -> list[dict[str, np.ndarray]] | None:
        """Extra realisations per stage to compile in (``None``: the openings suffice)."""

    def draw(self, problem: CompiledProblem, rng: np.random.Generator) -> np.ndarray:
        """int32[n_stages]: the patch row of every stage for one forward pass."""


def _by_probability(cumulative: np.ndarray, uniform: float) -> int:
    return min(int(np.searchsorted(cumulative, uniform, side="right")), cumulative.size - 1)


@dataclass(frozen=True)
class InSample:
    """Draw each stage's opening with the stage's probabilities."""

    def forward_realisations(self, problem: Problem) -> None:
        return None

    def draw(self, problem: CompiledProblem, rng: np.random.Generator) -> np.ndarray:
        return self.draw_from(cumulative_probabilities(problem), rng)

    @staticmethod
    def draw_from(cumulative: list[list[float]], rng: np.random.Generator) -> np.ndarray:
        """:meth:`draw` given each stage's :func:`cumulative_probabilities`, which a sampler takes once per run.

        ``bisect_right`` on the list finds what ``np.searchsorted(side="right")``
        finds on the array (the same doubles compared), without a numpy call per stage.
        """
        uniforms = rng.random(len(cumulative)).tolist()
        return np.array(
            [min(bisect_right(c, u), len(c) - 1) for c, u in zip(cumulative, uniforms, strict=True)], dtype=np.int32
        )


def cumulative_probabilities(problem: CompiledProblem) -> list[list[float]]:
    """Each stage's cumulative opening probabilities, as lists: what :class:`InSample` draws with."""
    return [np.cumsum(t.probabilities).tolist() for t in problem.templates]


@dataclass(frozen=True)
class OutOfSample:
    """Draw from per-stage tables of realisations instead of the openings.

    ``realisations[t]`` maps each random parameter of stage ``t`` to an array
    of values (all of one length ``S_t``: one joint realisation per index);
    realisation ``s`` has probability ``probabilities[t][s]`` (equal if omitted).
    A stage without random parameters takes an empty mapping.
    """

    realisations: Sequence[Mapping[str, Sequence[float]]]
    probabilities: Sequence[Sequence[float]] | None = None

    def forward_realisations(self, problem: Problem) -> list[dict[str, np.ndarray]]:
        return [{k: np.asarray(v, dtype=np.float64) for k, v in table.items()} for table in self.realisations]

    def draw(self, problem: CompiledProblem, rng: np.random.Generator) -> np.ndarray:
        uniforms = rng.random(problem.n_stages)
        rows = np.zeros(problem.n_stages, dtype=np.int32)
        for t, (template, table) in enumerate(zip(problem.templates, self.realisations, strict=True)):
            count = len(next(iter(table.values()))) if table else 0
            if count == 0:
                continue
            weights = np.full(count, 1.0 / count) if self.probabilities is None else np.asarray(self.probabilities[t])
            rows[t] = template.n_openings + _by_probability(np.cumsum(weights / weights.sum()), uniforms[t])
        return rows


@dataclass(frozen=True)
class Historical:
    """Draw whole scenarios from a list the user gives.

    ``scenarios[j][t]`` maps each random parameter of stage ``t`` to its value
    in scenario ``j`` (an empty mapping for a stage without randomness). Each
    forward pass takes scenario ``j`` with probability ``probabilities[j]``
    (equal if omitted).
    """

    scenarios: Sequence[Sequence[Mapping[str, float]]]
    probabilities: Sequence[float] | None = None

    def forward_realisations(self, problem: Problem) -> list[dict[str, np.ndarray]]:
        n_stages = len(problem.stages)
        for j, scenario in enumerate(self.scenarios):
            if len(scenario) != n_stages:
                raise ValueError(f"historical scenario {j} has {len(scenario)} stages, the problem {n_stages}")
        tables = []
        for t in range(n_stages):
            names = self.scenarios[0][t].keys()
            tables.append({name: np.array([s[t][name] for s in self.scenarios], dtype=np.float64) for name in names})
        return tables

    def draw(self, problem: CompiledProblem, rng: np.random.Generator) -> np.ndarray:
        count = len(self.scenarios)
        weights = np.full(count, 1.0 / count) if self.probabilities is None else np.asarray(self.probabilities)
        j = _by_probability(np.cumsum(weights / weights.sum()), rng.random())
        rows = np.zeros(problem.n_stages, dtype=np.int32)
        for t, template in enumerate(problem.templates):
            if self.scenarios[j][t]:
                rows[t] = template.n_openings + j
        return rows


class ScenarioSampler:
    """The scenarios of one purpose (training or simulation) of one run."""

    def __init__(
        self, problem: CompiledProblem, seed: int, scheme: SamplingScheme | None = None, purpose: int = TRAINING
    ):
        self.problem = problem
        self.seed = int(seed)
        self.scheme = scheme or InSample()
        self.purpose = purpose
        # the default scheme draws every forward pass with the same cumulative probabilities: summed once here
        self._cumulative = cumulative_probabilities(problem) if type(self.scheme) is InSample else None

    def openings(self, iteration: int, forward_pass: int) -> np.ndarray:
        """int32[n_stages]: the patch row of every stage in this forward pass."""
        rng = scenario_stream(self.seed, iteration, forward_pass, self.purpose)
        if self._cumulative is not None:
            return InSample.draw_from(self._cumulative, rng)
        return self.scheme.draw(self.problem, rng)

    def scenarios(self, iteration: int, passes: Sequence[int] | range) -> np.ndarray:
        """int32[len(passes), n_stages]."""
        rows = [self.openings(iteration, k) for k in passes]
        return np.array(rows, dtype=np.int32).reshape(len(rows), self.problem.n_stages)


def compile_for(problem: Problem | CompiledProblem, scheme: SamplingScheme | None) -> CompiledProblem:
    """Compile ``problem`` with the realisations ``scheme`` needs."""
    if isinstance(problem, CompiledProblem):
        if scheme is not None and not isinstance(scheme, InSample):
            raise ValueError("out-of-sample and historical sampling need the Problem, not a compiled one")
        return problem
    return problem.compile(scheme.forward_realisations(problem) if scheme is not None else None)
