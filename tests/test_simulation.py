"""Simulating a trained policy."""

from __future__ import annotations

import numpy as np
import pyarrow.dataset as ds
import pytest
from problems import first_steps

import caudal


@pytest.fixture(scope="module")
def trained():
    return caudal.train(first_steps(), iterations=30, forward_passes=3)


def test_an_optimal_policy_costs_the_optimum_on_average(trained):
    simulation = caudal.simulate(trained, scenarios=3000, seed=1)
    totals = simulation.total_costs
    standard_error = totals.std(ddof=1) / np.sqrt(totals.size)
    assert abs(totals.mean() - 8333.333) < 3 * standard_error
    # the first stage's cost-to-go is the policy's own estimate of what follows
    assert np.all(simulation.future_costs[:, -1] == 0.0)


def test_stage_records_are_consistent(trained):
    simulation = caudal.simulate(trained, scenarios=20, variables=["hydro", "thermal"], duals=["c0"])
    hydro, thermal = simulation.variables["hydro"], simulation.variables["thermal"]
    assert np.allclose(hydro + thermal, 150.0)  # demand met every stage
    assert np.allclose(simulation.stage_costs[:, 0], 50.0 * thermal[:, 0])
    assert np.all(simulation.states >= -1e-9) and np.all(simulation.states <= 200 + 1e-9)
    # the demand constraint's dual is the marginal cost: a thermal price whenever thermal runs
    marginal = simulation.duals["c0"]
    assert np.all(np.isin(np.round(marginal[thermal > 1e-6]), [50.0, 100.0, 150.0]))


def test_simulation_does_not_depend_on_threads(trained):
    one = caudal.simulate(trained, scenarios=40, seed=3, threads=1)
    two = caudal.simulate(trained, scenarios=40, seed=3, threads=2)
    assert np.array_equal(one.stage_costs, two.stage_costs)
    assert np.array_equal(one.states, two.states)


def test_written_as_partitioned_parquet(trained, tmp_path):
    caudal.simulate(trained, scenarios=1200, variables=["hydro"], output=tmp_path)
    dataset = ds.dataset(tmp_path / "simulation", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == 1200 * 3
    assert {"scenario", "stage", "stage_cost", "state:volume", "var:hydro"} <= set(table.column_names)
    assert len({f.split("/")[-2] for f in dataset.files}) == 3  # blocks of 500 scenarios
    assert (tmp_path / "simulation_summary.json").exists()
