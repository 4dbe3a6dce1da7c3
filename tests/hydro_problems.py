"""Small hydrothermal problems for the solver and thread-pool tests.

``first_steps`` is SDDP.jl's three-stage tutorial problem. ``random_hydro``
builds ``reservoirs`` coupled reservoirs feeding one demand, with random
inflows in the row bounds and random thermal availability in the column
bounds, so that both kinds of patches are exercised; its LPs are degenerate
enough that the vertex HiGHS ends at depends on the pivoting history, which is
what the determinism tests need.
"""

from __future__ import annotations

import numpy as np
from problems import first_steps  # noqa: F401  (re-exported for the native tests)

import caudal


def add_reservoir(stage: caudal.Stage, r: int, inflows: np.ndarray) -> caudal.Variable:
    """Reservoir ``r``: a volume state, its balance row with the opening's ``inflows``; returns its turbined flow."""
    volume = stage.add_state(f"v{r}", lower=0, upper=200, initial=100)
    inflow = stage.add_uncertain(f"inflow{r}", inflows)
    hydro = stage.add_variable(f"hydro{r}", upper=150)
    spill = stage.add_variable(f"spill{r}")
    stage.add_constraint({volume.out: 1, hydro: 1, spill: 1, volume.incoming: -1}, "==", inflow)
    return hydro


def random_hydro(reservoirs: int = 3, stages: int = 4, openings: int = 5, seed: int = 0) -> caudal.Problem:
    rng = np.random.default_rng(seed)
    problem = caudal.Problem(name=f"random hydro {reservoirs}x{stages}x{openings} seed {seed}")
    demand = 100.0 * reservoirs
    for t in range(stages):
        stage = problem.add_stage()
        supply = {}
        for r in range(reservoirs):
            supply[add_reservoir(stage, r, rng.uniform(0, 120, openings).round(1))] = 1.0
        availability = stage.add_uncertain("availability", rng.uniform(0.5, 1.0, openings).round(2) * demand / 3)
        for k, cost in enumerate((20.0, 50.0, 90.0)):
            upper = availability if k == 0 else demand / 3
            supply[stage.add_variable(f"thermal{k}", upper=upper, cost=cost * (1 + 0.1 * t))] = 1.0
        supply[stage.add_variable("deficit", cost=1000.0)] = 1.0
        stage.add_constraint(supply, "==", demand)
    return problem


def infeasible_in_opening(stage_index: int = 1, opening: int = 2) -> caudal.Problem:
    """Three stages; stage ``stage_index`` cannot meet its demand in ``opening``."""
    problem = caudal.Problem(name="infeasible opening")
    for t in range(3):
        stage = problem.add_stage()
        volume = stage.add_state("volume", lower=0, upper=200, initial=200)
        demands = [150.0, 150.0, 150.0]
        if t == stage_index:
            demands[opening] = 1e4  # beyond every source
        demand = stage.add_uncertain("demand", demands)
        thermal = stage.add_variable("thermal", upper=100, cost=50.0)
        hydro = stage.add_variable("hydro", upper=100)
        spill = stage.add_variable("spill")
        stage.add_constraint({thermal: 1, hydro: 1}, "==", demand)
        stage.add_constraint({volume.out: 1, hydro: 1, spill: 1, volume.incoming: -1}, "==", 50.0)
    return problem
