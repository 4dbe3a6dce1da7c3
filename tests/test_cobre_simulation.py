"""Simulating a trained policy on a Cobre case: the Parquet results are consistent with the case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, KNOWN_COSTS

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.formulation import HM3_PER_M3S_HOUR


@pytest.fixture(scope="module")
def toy():
    study = cobre.load_case(DATA / "1dtoy")
    result = caudal.train(study.problem, iterations=60, seed=study.training.seed)
    return study, result, cobre.simulate(study, result.policy, scenarios=40, seed=3)


def column(table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy())


def test_tables_have_one_row_per_scenario_stage_block_entity(toy) -> None:
    study, _, tables = toy
    assert set(tables) == {"costs", "hydros", "thermals", "exchanges", "buses"}
    assert tables["costs"].num_rows == 40 * 4
    assert tables["hydros"].num_rows == 40 * 4 * 1
    assert tables["thermals"].num_rows == 40 * 4 * 2
    assert tables["buses"].num_rows == 40 * 4
    assert tables["exchanges"].num_rows == 0


def test_storage_carries_over_and_water_balances(toy) -> None:
    _, _, tables = toy
    hydros = tables["hydros"]
    initial = column(hydros, "storage_initial_hm3").reshape(40, 4)
    final = column(hydros, "storage_final_hm3").reshape(40, 4)
    assert np.allclose(initial[:, 0], 83.222)
    assert np.allclose(initial[:, 1:], final[:, :-1])
    hours = np.array([744.0, 696.0, 744.0, 720.0])
    inflow = column(hydros, "incremental_inflow_m3s").reshape(40, 4)
    outflow = column(hydros, "outflow_m3s").reshape(40, 4)
    assert np.allclose(final, initial + HM3_PER_M3S_HOUR * hours * (inflow - outflow), atol=1e-7)


def test_loads_are_met(toy) -> None:
    _, _, tables = toy
    thermal = column(tables["thermals"], "generation_mw").reshape(40, 4, 2).sum(axis=2)
    hydro = column(tables["hydros"], "generation_mw").reshape(40, 4)
    buses = tables["buses"]
    supplied = thermal + hydro + column(buses, "deficit_mw").reshape(40, 4) - column(buses, "excess_mw").reshape(40, 4)
    assert np.allclose(supplied, 75.0)
    assert (column(buses, "spot_price") > 0).all()


def test_costs_add_up(toy) -> None:
    study, _, tables = toy
    costs = tables["costs"]
    parts = sum(column(costs, f"{c}_cost") for c in cobre.formulation.COST_CATEGORIES)
    assert np.allclose(parts, column(costs, "immediate_cost"))
    thermal = column(tables["thermals"], "generation_cost").reshape(160, 2).sum(axis=1)
    assert np.allclose(thermal, column(costs, "thermal_cost"))
    factors = column(costs, "discount_factor").reshape(40, 4)[0]
    assert factors[0] == 1.0 and (np.diff(factors) < 0).all()  # 1dtoy discounts at 12% a year


def test_simulated_cost_is_near_the_bound_of_a_converged_policy() -> None:
    study = cobre.load_case(DATA / "deterministic" / "d04-transmission")
    result = caudal.train(study.problem, iterations=10, seed=0)
    tables = cobre.simulate(study, result.policy, scenarios=2)
    totals = column(tables["costs"], "total_cost").reshape(2, -1).sum(axis=1)
    assert totals == pytest.approx([KNOWN_COSTS["d04-transmission"]] * 2, rel=1e-9)
    flows = tables["exchanges"]
    assert np.allclose(column(flows, "net_flow_mw"), column(flows, "direct_flow_mw") - column(flows, "reverse_flow_mw"))


def test_results_written_as_parquet(toy, tmp_path: Path) -> None:
    _, _, tables = toy
    paths = cobre.write_simulation(tables, tmp_path / "simulation")
    assert sorted(p.name for p in paths) == sorted(f"{name}.parquet" for name in tables)
    back = pq.read_table(tmp_path / "simulation" / "hydros.parquet")
    assert back.equals(tables["hydros"])
    assert back.schema.field("hydro_id").type == "int32"
