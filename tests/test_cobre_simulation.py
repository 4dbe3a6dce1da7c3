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
    assert set(tables) == {"costs", "hydros", "thermals", "exchanges", "buses", "non_controllables",
                           "generic_violations"}
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


def test_the_tables_hold_the_costs_of_caudal_simulate(toy) -> None:
    """One simulator: the same policy, seed and scenario count give the same scenarios and costs."""
    _, result, tables = toy
    simulation = caudal.simulate(result.policy, scenarios=40, seed=3)
    costs = tables["costs"]
    assert np.array_equal(column(costs, "opening").reshape(40, 4), simulation.openings)
    assert np.array_equal(column(costs, "immediate_cost").reshape(40, 4), simulation.stage_costs)
    assert np.array_equal(column(costs, "total_cost").reshape(40, 4), simulation.discounted_costs)
    storage = column(tables["hydros"], "storage_final_hm3").reshape(40, 4)
    assert np.array_equal(storage, simulation.states[:, :, 0])
    assert len(np.unique(simulation.openings, axis=0)) > 1  # the scenarios differ: the comparison can fail


def test_caudal_simulate_on_the_command_line_gives_the_tables_costs(tmp_path: Path) -> None:
    """``caudal simulate CASE --policy RUN`` and ``cobre.simulate`` of the policy in RUN's checkpoint agree."""
    import subprocess
    import sys

    import pyarrow.dataset as ds

    from caudal.checkpoint import load_latest, restore_pools
    from caudal.checkpoint.during_training import checkpoint_directory

    case = DATA / "1dtoy"

    def run(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "caudal", *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr

    run("train", str(case), "-n", "20", "-o", str(tmp_path / "run"), "-q")
    run("simulate", str(case), "--policy", str(tmp_path / "run"), "-n", "30", "--seed", "5", "-o",
        str(tmp_path / "sim"))
    table = ds.dataset(tmp_path / "sim" / "simulation", partitioning="hive").to_table().sort_by(
        [("scenario", "ascending"), ("stage", "ascending")])
    study = cobre.load_case(case)
    problem = study.problem.compile()
    checkpoint, _ = load_latest(checkpoint_directory(tmp_path / "run"))
    policy = caudal.Policy(problem, restore_pools(checkpoint, problem))
    tables = cobre.simulate(study, policy, scenarios=30, seed=5)
    assert np.array_equal(column(table, "discounted_cost"), column(tables["costs"], "total_cost"))
    assert np.array_equal(column(table, "stage_cost"), column(tables["costs"], "immediate_cost"))


# -- the command line follows config.json's simulation settings --------------------------------


def test_training_a_case_simulates_it_as_its_config_says(tmp_path: Path, capsys) -> None:
    """``caudal train CASE -o RUN`` simulates num_scenarios (100 in 1dtoy) into RUN/simulation, Cobre's tables."""
    from caudal.cli import main

    case = DATA / "cases-0.18" / "1dtoy"
    assert main(["train", str(case), "-n", "5", "-q", "-o", str(tmp_path / "run")]) == 0
    assert "simulated 100 scenarios (config.json)" in capsys.readouterr().out
    written = {p.stem: pq.read_table(p) for p in (tmp_path / "run" / "simulation").glob("*.parquet")}
    assert set(written) == set(cobre.results.TABLES)
    assert written["costs"].num_rows == 100 * 4
    # the same tables as cobre.simulate on the saved policy, with the case's scenarios and seed
    study = cobre.load_case(case)
    tables = cobre.simulate(study, caudal.load_policy(tmp_path / "run", study.problem))
    for name, table in tables.items():
        assert table.equals(written[name]), name


def test_a_case_whose_config_disables_simulation_is_not_simulated(tmp_path: Path, capsys) -> None:
    import json
    import shutil

    from caudal.cli import main

    case = tmp_path / "1dtoy"
    shutil.copytree(DATA / "cases-0.18" / "1dtoy", case)
    config = json.loads((case / "config.json").read_text())
    config["simulation"]["enabled"] = False
    (case / "config.json").write_text(json.dumps(config))
    assert main(["train", str(case), "-n", "2", "-q", "-o", str(tmp_path / "run")]) == 0
    assert "simulated" not in capsys.readouterr().out
    assert not (tmp_path / "run" / "simulation").exists()


def test_caudal_simulate_defaults_to_the_cases_scenario_count(tmp_path: Path) -> None:
    import json

    from caudal.cli import main

    case = DATA / "1dtoy"  # simulation.num_scenarios: 100
    assert main(["train", str(case), "-n", "2", "-q", "-o", str(tmp_path / "run")]) == 0
    assert main(["simulate", str(case), "--policy", str(tmp_path / "run"), "-o", str(tmp_path / "sim")]) == 0
    assert json.loads((tmp_path / "sim" / "simulation_summary.json").read_text())["scenarios"] == 100


@pytest.mark.mpi
def test_two_ranks_simulate_after_training_and_write_the_same_tables(tmp_path: Path) -> None:
    from mpi_helpers import train_ranks

    case = str(DATA / "cases-0.18" / "1dtoy")
    for ranks in (1, 2):
        train_ranks(ranks, 1, case, tmp_path / f"by{ranks}", "--iterations", "3")
    for name in cobre.results.TABLES:
        one = pq.read_table(tmp_path / "by1" / "simulation" / f"{name}.parquet")
        two = pq.read_table(tmp_path / "by2" / "simulation" / f"{name}.parquet")
        assert one.equals(two), name
    assert pq.read_table(tmp_path / "by2" / "simulation" / "costs.parquet").num_rows == 100 * 4
