"""The simulation tables of the operational constraints: withdrawals, generic-constraint slacks, sources.

Each case is deterministic and trained to its known optimum, so its one
simulated scenario is the optimal dispatch, and the tables must add up: the
water balance with the withdrawal, the bus balance with the sources'
generation, the slack's cost in the costs table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cobre_cases import DATA, KNOWN_COSTS, SAME
from test_cobre_generic import D13_018, TWO_BLOCK_CASES, two_block_d13_in_018
from test_cobre_withdrawals import COBRE_018, d11_in_018

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.formulation import HM3_PER_M3S_HOUR


def simulated(case: Path) -> dict:
    study = cobre.load_case(case)
    settings = study.training
    result = caudal.train(study.problem, iterations=settings.iterations, forward_passes=settings.forward_passes,
                          seed=settings.seed)
    return cobre.simulate(study, result.policy, scenarios=1)


def column(table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy())


def total(tables: dict) -> float:
    return float(column(tables["costs"], "total_cost").sum())


def test_withdrawals_close_the_water_balance_and_their_violations_are_priced(tmp_path: Path) -> None:
    inflow, violation_cost = 2.0, 1.0  # too little water: the withdrawal falls short, cheaply
    tables = simulated(d11_in_018(tmp_path, inflow, violation_cost))
    assert total(tables) == pytest.approx(COBRE_018[(inflow, violation_cost)], rel=SAME)
    hydros, costs = tables["hydros"], tables["costs"]
    hours = 730.0  # d02's stages: one block of 730 hours
    withdrawn = column(hydros, "water_withdrawal_m3s")
    change = column(hydros, "storage_final_hm3") - column(hydros, "storage_initial_hm3")
    flows = (column(hydros, "inflow_m3s") - column(hydros, "outflow_m3s") - withdrawn
             + column(hydros, "inflow_nonnegativity_slack_m3s"))
    assert change == pytest.approx(flows * hours * HM3_PER_M3S_HOUR, abs=1e-9)
    below = column(hydros, "water_withdrawal_violation_neg_m3s")
    assert below.max() > 0 and (column(hydros, "water_withdrawal_violation_pos_m3s") == 0).all()
    assert withdrawn == pytest.approx(10.0 - below, abs=1e-9)  # d11's target: 10 m3/s
    assert column(costs, "withdrawal_violation_cost") == pytest.approx(below * hours * violation_cost, rel=SAME)


def test_generic_slacks_are_tabled_per_block_with_their_cost(tmp_path: Path) -> None:
    rows, penalty, expected = TWO_BLOCK_CASES["g4"]  # a slack cheaper than the deficit: the caps are violated
    tables = simulated(two_block_d13_in_018(tmp_path, rows, penalty))
    assert total(tables) == pytest.approx(expected, rel=SAME)
    slacks, costs = tables["generic_violations"], tables["costs"]
    assert set(zip(column(slacks, "stage_id"), column(slacks, "block_id"), strict=True)) == {
        (0, 0), (0, 1), (1, 0), (1, 1)}  # stage 0: a row per block; stage 1: the stage row on both blocks
    thermal = tables["thermals"]
    generation = dict(zip(zip(column(thermal, "stage_id"), column(thermal, "block_id"), strict=True),
                          column(thermal, "generation_mw"), strict=True))
    value = dict(zip(zip(column(slacks, "stage_id"), column(slacks, "block_id"), strict=True),
                     column(slacks, "slack_value"), strict=True))
    assert value[(0, 0)] == pytest.approx(generation[(0, 0)] - 10.0, abs=1e-9)  # above its cap of 10
    assert value[(1, 0)] == pytest.approx(generation[(1, 0)] - 12.0, abs=1e-9)  # above the interval [5, 12]
    assert value[(0, 0)] > 0
    hours = {0: 400.0, 1: 330.0}
    assert column(slacks, "slack_cost") == pytest.approx(
        column(slacks, "slack_value") * penalty * np.array([hours[b] for b in column(slacks, "block_id")]), rel=SAME)
    for stage in (0, 1):
        in_stage = column(slacks, "stage_id") == stage
        assert column(costs, "generic_violation_cost")[stage] == pytest.approx(
            column(slacks, "slack_cost")[in_stage].sum(), rel=SAME)


def test_a_constraint_that_holds_has_zero_slack() -> None:
    tables = simulated(D13_018)  # the slack costs more than the deficit: the cap holds
    assert total(tables) == pytest.approx(KNOWN_COSTS["d13-generic-constraint"], rel=SAME)
    assert tables["generic_violations"].num_rows == 2
    assert (column(tables["generic_violations"], "slack_value") == 0).all()


def test_sources_generation_enters_the_bus_balance() -> None:
    tables = simulated(DATA / "deterministic" / "d15-non-controllable-source")
    assert total(tables) == pytest.approx(KNOWN_COSTS["d15-non-controllable-source"], rel=SAME)
    sources, buses, thermals = tables["non_controllables"], tables["buses"], tables["thermals"]
    assert sources.num_rows > 0
    generation = column(sources, "generation_mw")
    available = column(sources, "available_mw")
    assert (generation <= available + 1e-9).all()
    assert column(sources, "curtailment_mw") == pytest.approx(available - generation, abs=1e-9)
    # one bus: load = thermal + sources + deficit - excess, per (stage, block)
    def per_block(table, name):
        keys = list(zip(column(table, "stage_id"), column(table, "block_id"), strict=True))
        out: dict = {}
        for key, value in zip(keys, column(table, name), strict=True):
            out[key] = out.get(key, 0.0) + value
        return out

    supply = per_block(thermals, "generation_mw")
    from_sources = per_block(sources, "generation_mw")
    load, deficit, excess = (per_block(buses, n) for n in ("load_mw", "deficit_mw", "excess_mw"))
    for key in load:
        assert load[key] == pytest.approx(supply[key] + from_sources[key] + deficit[key] - excess[key], abs=1e-7)
