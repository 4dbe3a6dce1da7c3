"""Simulating a trained policy."""

from __future__ import annotations

import numpy as np
import pyarrow.dataset as ds
import pytest
from problems import first_steps

import caudal
from caudal.sddp.stage_cache import StageCache
from caudal.solver.highspy_workspace import HighspyWorkspace
from caudal.solver.native_workspace import NATIVE_AVAILABLE


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


@pytest.fixture(scope="module")
def brazil4_policy():
    """A policy with enough cuts that most of them never bind in a given solve."""
    from caudal.examples import brazil4

    return caudal.train(brazil4(stages=5, openings=6), iterations=6, forward_passes=8, seed=2, threads=1).policy


def test_every_solve_has_the_value_of_the_lp_with_every_cut_a_row(brazil4_policy):
    """Each stage solve of the simulation, re-solved with every cut a row (highspy), has the same value.

    Whole trajectories may part: a degenerate stage LP has several optimal
    solutions, and the simulation's and the reference's LPs may return
    different ones, which lead to different states later. So the reference
    solves each (scenario, stage) at the simulation's own incoming state.
    """
    problem = brazil4_policy.problem
    lean = caudal.simulate(brazil4_policy, scenarios=30, seed=4, threads=1)
    every_row = StageCache(problem, brazil4_policy.cut_pools)
    workspace = HighspyWorkspace()
    for t, lp in enumerate(every_row.lps):
        incoming = np.broadcast_to(problem.initial_state, lean.states[:, 0].shape) if t == 0 else lean.states[:, t - 1]
        objective, values = np.empty(30), np.empty((30, lp.num_cols))
        workspace.solve_detailed(lp, every_row.bases[t], np.ascontiguousarray(incoming), lean.openings[:, t],
                                 np.arange(30), objective, values)
        np.testing.assert_allclose(lean.stage_costs[:, t] + lean.future_costs[:, t], objective, rtol=1e-9)
        # the simulation's cost-to-go is the policy's at the state it reached: no cut left out
        np.testing.assert_allclose(lean.costs_to_go[:, t], brazil4_policy.cost_to_go(t, lean.states[:, t]), rtol=1e-9)
    assert lp.num_cuts == 0 and every_row.lps[0].num_cuts > 20  # the test is not about an LP without cuts
    assert (lean.future_costs[:, :-1] > 0).all()


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="the native extension is not built")
def test_the_reference_simulation_solves_every_cut_as_a_row(brazil4_policy):
    """``every_cut_a_row`` on highspy (the reference) and on the native kernel: the same LPs, the same bits."""
    native = caudal.simulate(brazil4_policy, scenarios=12, seed=4, threads=1, every_cut_a_row=True, solver="native")
    highspy = caudal.simulate(brazil4_policy, scenarios=12, seed=4, threads=1, every_cut_a_row=True,
                              solver="highspy")
    assert np.array_equal(native.stage_costs, highspy.stage_costs)
    assert np.array_equal(native.states, highspy.states)


def test_everything_kept_is_the_same_for_one_and_two_threads(brazil4_policy):
    one = caudal.simulate(brazil4_policy, scenarios=25, seed=5, threads=1, everything=True, variables=["hydro_0"],
                          duals=["demand_0"])
    two = caudal.simulate(brazil4_policy, scenarios=25, seed=5, threads=2, everything=True, variables=["hydro_0"],
                          duals=["demand_0"])
    assert np.array_equal(one.stage_costs, two.stage_costs)
    assert np.array_equal(one.variables["hydro_0"], two.variables["hydro_0"])
    assert np.array_equal(one.duals["demand_0"], two.duals["demand_0"])
    for a, b in zip(one.values + one.row_duals, two.values + two.row_duals, strict=True):
        assert np.array_equal(a, b)


def test_named_records_are_columns_of_everything(brazil4_policy):
    simulation = caudal.simulate(brazil4_policy, scenarios=10, seed=6, threads=1, everything=True,
                                 variables=["hydro_0"], duals=["demand_0"])
    for t, template in enumerate(brazil4_policy.problem.templates):
        column = template.col_names.index("hydro_0")
        row = template.row_names.index("demand_0")
        assert np.array_equal(simulation.variables["hydro_0"][:, t], simulation.values[t][:, column])
        assert np.array_equal(simulation.duals["demand_0"][:, t], simulation.row_duals[t][:, row])
        assert np.array_equal(simulation.states[:, t], simulation.values[t][:, template.state_out_cols])


@pytest.mark.mpi
def test_two_ranks_simulate_what_one_does(tmp_path):
    """``caudal simulate`` under ``mpiexec -n 2`` (the ranks share the scenarios) writes the one-rank result."""
    import subprocess
    import sys

    from mpi_helpers import run_ranks

    case = ["brazil4", "--stages", "4"]
    done = subprocess.run([sys.executable, "-m", "caudal", "train", *case, "-n", "4", "-m", "6", "-o",
                           str(tmp_path / "run"), "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    tables = {}
    for ranks in (1, 2):
        out = tmp_path / f"sim{ranks}"
        simulated = run_ranks(ranks, ["-m", "caudal", "simulate", *case, "--policy", str(tmp_path / "run"), "-n",
                                      "23", "--threads", "1", "--variables", "hydro_0", "-o", str(out)])
        assert simulated.returncode == 0, simulated.stderr
        tables[ranks] = ds.dataset(out / "simulation", partitioning="hive").to_table().sort_by(
            [("scenario", "ascending"), ("stage", "ascending")])
    assert tables[1].num_rows == 23 * 4
    assert tables[1].equals(tables[2])
