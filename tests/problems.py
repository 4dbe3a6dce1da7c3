"""Builders of the problems the tests train and solve.

* :func:`first_steps`: the three-stage hydro-thermal problem of SDDP.jl's
  tutorial, whose published optimal expected cost is 8333.33.
* :func:`random_problem`: small random multistage LPs with complete recourse,
  generated from a seed, for the property tests. They are shaped like a
  reservoir system (storage states, releases, transfers, thermal generation and
  a penalised deficit) because that structure makes every stage feasible for any
  incoming state by construction while still giving cost-to-go functions with
  many pieces.

Everything here goes through the public :class:`caudal.Problem` API only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import caudal
from caudal import Problem

FIRST_STEPS_OPTIMUM = 8333.33
"""SDDP.jl, "An introduction to SDDP.jl" (first steps): optimal expected cost, to 2 decimals."""


def first_steps(sense: str = "min") -> Problem:
    """SDDP.jl's tutorial problem; inflow is uncertain in every stage, the first included.

    With ``sense="max"`` the same problem maximises the negated costs, so its
    optimum is -8333.33: a check that signs survive the trip through the engine.
    """
    sign = 1.0 if sense == "min" else -1.0
    problem = Problem(sense=sense, name=f"first steps ({sense})")
    for fuel_cost in (50.0, 100.0, 150.0):
        stage = problem.add_stage()
        volume = stage.add_state("volume", lower=0, upper=200, initial=200)
        inflow = stage.add_uncertain("inflow", [0.0, 50.0, 100.0])
        thermal = stage.add_variable("thermal", cost=sign * fuel_cost)
        hydro = stage.add_variable("hydro")
        spill = stage.add_variable("spill")
        stage.add_constraint({thermal: 1, hydro: 1}, "==", 150)
        stage.add_constraint({volume.out: 1, hydro: 1, spill: 1, volume.incoming: -1}, "==", inflow)
    return problem


@dataclass(frozen=True)
class RandomSpec:
    """The shape of a random problem; the numbers inside come from ``seed``.

    ``openings[t]`` is the number of openings of stage ``t``; a first stage with
    more than one opening exercises first-stage uncertainty.
    """

    seed: int
    openings: tuple[int, ...] = (1, 3, 3)
    states: int = 2
    probabilities: bool = False
    discount: float = 1.0
    sense: str = "min"

    @property
    def stages(self) -> int:
        return len(self.openings)


def random_problem(spec: RandomSpec) -> Problem:
    """A random reservoir-like multistage LP with complete recourse.

    Per stage and reservoir ``i``: storage ``v_i`` in ``[0, cap_i]`` (a state),
    release ``r_i`` in ``[0, rmax_i]`` whose upper bound is random in some
    stages, spill ``s_i >= 0``; a transfer ``w`` from reservoir 0 to the next;
    thermal generation ``g`` in ``[0, gmax]`` and a deficit ``d >= 0`` at a high
    price. Constraints::

        v_i + r_i + s_i (+ w out) (- w in) - v_i_in == inflow_i      (random rhs)
        sum_i eff_i r_i + g + d >= demand                             (random rhs)

    Any incoming storage in ``[0, cap]`` and any non-negative inflow admit
    ``v = min(cap, v_in + inflow)``, ``s`` the rest, ``r = w = g = 0`` and
    ``d = demand``: complete recourse. Storage left at the end of a stage earns
    a small reward (a negative cost), so costs have both signs and
    ``value_bound`` must be a true bound, which is computed from the data.

    With ``sense="max"`` every cost is negated and the problem maximised: its
    optimum is exactly minus the ``"min"`` optimum.
    """
    rng = np.random.default_rng(spec.seed)
    sign = 1.0 if spec.sense == "min" else -1.0
    n = spec.states
    capacity = rng.uniform(5.0, 20.0, n)
    initial = capacity * rng.uniform(0.0, 1.0, n)
    max_release = rng.uniform(3.0, 10.0, n)
    efficiency = rng.uniform(0.5, 1.5, n)
    # Most negative possible cost of one stage: the storage reward at full reservoirs.
    rewards = rng.uniform(0.0, 2.0, (spec.stages, n))
    worst_reward = float(np.sum(rewards * capacity))
    assert 0.0 < spec.discount <= 1.0, "value_bound below assumes no stage weighs more than the first"
    problem = Problem(
        sense=spec.sense,
        value_bound=-sign * worst_reward,  # cost-to-go >= -(all rewards) when minimising
        name=f"random {spec}",
    )
    for t, n_open in enumerate(spec.openings):
        stage = problem.add_stage(discount=spec.discount)
        storage = [
            stage.add_state(f"v{i}", upper=float(capacity[i]), initial=float(initial[i]), cost=-sign * rewards[t, i])
            for i in range(n)
        ]
        inflow = [stage.add_uncertain(f"inflow{i}", rng.uniform(0.0, 8.0, n_open)) for i in range(n)]
        demand = stage.add_uncertain("demand", rng.uniform(5.0, 25.0, n_open))
        random_release = rng.random(n) < 0.5
        release = []
        for i in range(n):
            upper = (
                stage.add_uncertain(f"rmax{i}", max_release[i] * rng.uniform(0.3, 1.0, n_open))
                if random_release[i]
                else float(max_release[i])
            )
            release.append(stage.add_variable(f"r{i}", upper=upper))
        spill = [stage.add_variable(f"s{i}", cost=sign * rng.uniform(0.0, 0.1)) for i in range(n)]
        transfer = stage.add_variable("w", upper=float(rng.uniform(0.0, 4.0)), cost=sign * rng.uniform(0.0, 1.0))
        thermal = stage.add_variable("g", upper=float(rng.uniform(5.0, 15.0)), cost=sign * rng.uniform(5.0, 20.0))
        deficit = stage.add_variable("d", cost=sign * rng.uniform(50.0, 100.0))
        for i in range(n):
            balance = {storage[i].out: 1.0, release[i]: 1.0, spill[i]: 1.0, storage[i].incoming: -1.0}
            if n > 1 and i == 0:
                balance[transfer] = 1.0
            if n > 1 and i == 1:
                balance[transfer] = -1.0
            stage.add_constraint(balance, "==", inflow[i], name=f"water{i}")
        supply = {release[i]: float(efficiency[i]) for i in range(n)} | {thermal: 1.0, deficit: 1.0}
        stage.add_constraint(supply, ">=", demand, name="demand")
        if spec.probabilities and n_open > 1:
            weights = rng.uniform(0.2, 1.0, n_open)
            stage.set_probabilities(weights / weights.sum())
    return problem


def deterministic_optimum(problem: Problem) -> float:
    """The deterministic equivalent's optimum; fails the test if HiGHS did not solve it."""
    result = caudal.deterministic_equivalent(problem)
    assert result.status == "Optimal", result.status
    return result.objective


def scenario_paths(spec: RandomSpec) -> int:
    """Number of distinct scenario paths of the tree."""
    return int(np.prod(spec.openings))
