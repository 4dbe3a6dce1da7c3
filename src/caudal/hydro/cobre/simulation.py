"""Simulating a trained policy on a Cobre case: one forward pass per scenario, all values kept.

Training only needs each stage's objective, outgoing state and subgradient,
so the solver layer returns nothing else. Results need every primal value and
the duals of the balance rows, so this module solves the stage LPs itself,
with highspy, from the problem's stage templates plus the policy's cuts (the
cut of stage ``t`` is ``theta_t >= intercept + coefficients . x_out_t``).
Scenarios draw each stage's opening with the stage's probabilities from their
own random stream, apart from training's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import highspy
import numpy as np

from caudal.model.objective_scale import unscaled_solution
from caudal.model.problem import CompiledProblem
from caudal.model.stage_lp import StageLP, StageTemplate, assemble_stage_lp
from caudal.solver.highspy_workspace import new_highs, to_highs_lp

SIMULATION_STREAM = 11
"""Purpose tag of the simulation's random stream."""

class CutSource(Protocol):
    """What simulation needs of one stage's cut pool (a :class:`caudal.sddp.cuts.CutPool`)."""

    @property
    def intercepts(self) -> np.ndarray: ...

    @property
    def coefficients(self) -> np.ndarray: ...

    @property
    def targets(self) -> np.ndarray: ...

    def active_ids(self) -> np.ndarray: ...


class PolicyLike(Protocol):
    """What simulation needs of a trained policy (a :class:`caudal.Policy`)."""

    problem: CompiledProblem
    cut_pools: list


@dataclass
class SimulationRuns:
    """Solutions of every (scenario, stage): raw LP values, read through the stage layouts."""

    openings: np.ndarray  # int64[S, T]: the opening each stage took
    values: list[np.ndarray]  # per stage: float64[S, num_cols] primal values
    row_duals: list[np.ndarray]  # per stage: float64[S, template rows]
    objective: np.ndarray  # float64[S, T]: stage cost plus discounted cost-to-go (stage money)
    theta: np.ndarray  # float64[S, T]: cost-to-go at the stage's outgoing state (stage money)
    discount: np.ndarray  # float64[T]: factor turning stage t's money into first-stage money

    @property
    def n_scenarios(self) -> int:
        return int(self.openings.shape[0])

    def stage_costs(self, problem: CompiledProblem) -> np.ndarray:
        """float64[S, T]: each stage's own cost (without the cost-to-go), in stage money."""
        discounts = np.array([t.discount for t in problem.templates])
        return self.objective - discounts[None, :] * self.theta

    def total_costs(self, problem: CompiledProblem) -> np.ndarray:
        """float64[S]: each scenario's discounted total cost."""
        return self.stage_costs(problem) @ self.discount


def simulate_policy(policy: PolicyLike, scenarios: int, seed: int) -> SimulationRuns:
    """Run ``scenarios`` forward passes of ``policy`` from the problem's initial state."""
    problem = policy.problem
    n_stages = problem.n_stages
    openings = _sample_openings(problem, scenarios, seed)
    values, duals = [], []
    objective = np.empty((scenarios, n_stages))
    theta = np.empty((scenarios, n_stages))
    incoming = np.broadcast_to(problem.initial_state, (scenarios, problem.n_states)).copy()
    for t, template in enumerate(problem.templates):
        lp = _stage_lp(template, policy.cut_pools[t])
        highs = _load(lp)
        x = np.empty((scenarios, template.num_cols))
        y = np.empty((scenarios, template.num_rows))
        for s in range(scenarios):
            _patch(highs, template, incoming[s], int(openings[s, t]))
            highs.run()
            if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                status = highs.modelStatusToString(highs.getModelStatus())
                raise RuntimeError(f"simulation: stage {t}, scenario {s}: HiGHS could not solve the LP ({status})")
            solution = highs.getSolution()
            objective[s, t], x[s], row_dual = unscaled_solution(
                lp.solver_form, highs.getInfo().objective_function_value, solution.col_value, solution.row_dual
            )
            y[s] = row_dual[: template.num_rows]
        theta[:, t] = x[:, template.theta_col]
        incoming = x[:, template.state_out_cols]
        values.append(x)
        duals.append(y)
    discount = np.ones(n_stages)
    for t in range(1, n_stages):
        discount[t] = discount[t - 1] * problem.templates[t - 1].discount
    sign = problem.sign
    return SimulationRuns(openings, values, duals, sign * objective, sign * theta, discount)


def _sample_openings(problem: CompiledProblem, scenarios: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), SIMULATION_STREAM]))
    openings = np.empty((scenarios, problem.n_stages), dtype=np.int64)
    for t, template in enumerate(problem.templates):
        openings[:, t] = rng.choice(template.n_openings, size=scenarios, p=template.probabilities)
    return openings


def _stage_lp(template: StageTemplate, pool: CutSource) -> StageLP:
    ids = np.asarray(pool.active_ids())
    return assemble_stage_lp(template, pool.intercepts[ids], pool.coefficients[ids], ids, 0, pool.targets[ids])


def _load(lp: StageLP) -> highspy.Highs:
    highs = new_highs()
    highs.passModel(to_highs_lp(lp, lp.solver_form))  # the LP training solved, objective scaled
    return highs


def _patch(highs: highspy.Highs, template: StageTemplate, incoming: np.ndarray, opening: int) -> None:
    cols = np.concatenate((template.state_in_cols, template.col_patch_index)).astype(np.int32)
    lower = np.concatenate((incoming, template.col_patch_lower[opening]))
    upper = np.concatenate((incoming, template.col_patch_upper[opening]))
    highs.changeColsBounds(cols.size, cols, lower, upper)
    rows = template.row_patch_index
    if rows.size:
        highs.changeRowsBounds(rows.size, rows, template.row_patch_lower[opening], template.row_patch_upper[opening])
