"""Small problems and trained states shared by the checkpoint tests (no tests here).

A two-reservoir hydro-thermal problem: two states, several stages and
openings, so that cut pools have several columns and bases are non-trivial,
while a few iterations still take a fraction of a second.
"""

from __future__ import annotations

import numpy as np

import caudal
from caudal.model.problem import CompiledProblem
from caudal.parallel.pool import SerialPool
from caudal.sddp.training import TrainingOptions, TrainingState, run_training
from caudal.solver.highspy_workspace import HighspyWorkspace


def two_reservoirs(stages: int = 5, demand: float = 150.0, name: str = "two reservoirs") -> CompiledProblem:
    problem = caudal.Problem(name=name)
    for t in range(stages):
        stage = problem.add_stage(discount=0.95)
        north = stage.add_state("north", lower=0, upper=200, initial=120)
        south = stage.add_state("south", lower=0, upper=150, initial=60)
        inflow_n = stage.add_uncertain("inflow_n", [10.0, 40.0 + 5 * t, 90.0])
        inflow_s = stage.add_uncertain("inflow_s", [5.0, 30.0, 70.0 - 3 * t])
        cheap = stage.add_variable("cheap_thermal", upper=60, cost=40.0 + 10 * t)
        dear = stage.add_variable("dear_thermal", cost=200.0)
        hydro_n = stage.add_variable("hydro_n", upper=110)
        hydro_s = stage.add_variable("hydro_s", upper=80)
        spill_n = stage.add_variable("spill_n", cost=0.01)
        spill_s = stage.add_variable("spill_s", cost=0.01)
        stage.add_constraint({cheap: 1, dear: 1, hydro_n: 1, hydro_s: 1}, "==", demand)
        stage.add_constraint({north.out: 1, hydro_n: 1, spill_n: 1, north.incoming: -1}, "==", inflow_n)
        stage.add_constraint({south.out: 1, hydro_s: 1, spill_s: 1, south.incoming: -1, spill_n: -0.5}, "==", inflow_s)
    return problem.compile()


def new_pool() -> SerialPool:
    """A fresh worker pool, as a restarted process would have."""
    return SerialPool(HighspyWorkspace())


def trained_state(problem: CompiledProblem, options: TrainingOptions, pool: SerialPool | None = None) -> TrainingState:
    state = TrainingState.fresh(problem)
    run_training(state, pool or new_pool(), options)
    return state


def deactivate_some_cuts(state: TrainingState) -> None:
    """Mark every third cut of each pool inactive, as cut selection would, and rebuild the LPs."""
    for t, pool in enumerate(state.pools):
        if pool.size:
            pool.active[::3] = False
            state.cache.refresh(t)


def assert_same_state(a: TrainingState, b: TrainingState, *, compare_times: bool = True) -> None:
    """Cuts, bases and history identical, bit for bit."""
    assert a.iteration == b.iteration
    assert len(a.pools) == len(b.pools)
    for t, (pa, pb) in enumerate(zip(a.pools, b.pools, strict=True)):
        for name in ("intercepts", "coefficients", "iteration", "forward_pass", "active"):
            x, y = getattr(pa, name), getattr(pb, name)
            assert x.dtype == y.dtype, f"stage {t} {name} dtype"
            assert np.array_equal(x, y), f"stage {t} {name} differ"
            assert x.tobytes() == y.tobytes(), f"stage {t} {name} differ in their bits"
    for t, (ba, bb) in enumerate(zip(a.cache.bases, b.cache.bases, strict=True)):
        assert np.array_equal(ba.col_status, bb.col_status), f"stage {t} column basis differs"
        assert np.array_equal(ba.row_status, bb.row_status), f"stage {t} row basis differs"
        assert np.array_equal(a.cache.lps[t].cut_ids, b.cache.lps[t].cut_ids)
    for t, (va, vb) in enumerate(zip(a.visited, b.visited, strict=True)):
        assert va.states.tobytes() == vb.states.tobytes(), f"stage {t}: visited states differ"
    assert len(a.history) == len(b.history)
    for ra, rb in zip(a.history, b.history, strict=True):
        fields = ["iteration", "lower_bound", "upper_bound_mean", "upper_bound_low", "upper_bound_high"]
        fields += ["time_s", "lp_solves"] if compare_times else []
        for name in fields:
            a, b = getattr(ra, name), getattr(rb, name)
            assert a == b or (np.isnan(a) and np.isnan(b)), f"iteration {ra.iteration}: {name} differs"
