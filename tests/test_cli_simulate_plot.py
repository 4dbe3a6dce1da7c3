"""``caudal simulate`` and ``caudal plot`` from a trained run directory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def caudal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "caudal", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    done = caudal("train", "brazil4", "--stages", "4", "-n", "5", "-m", "2", "-o", str(directory), "-q")
    assert done.returncode == 0, done.stderr
    return directory


def test_simulate_writes_parquet_and_summary(run):
    out = run / "sim"
    done = caudal("simulate", "brazil4", "--stages", "4", "--policy", str(run), "-n", "30",
                  "--variables", "hydro_0", "--duals", "demand_0", "-o", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "simulation_summary.json").read_text())
    assert summary["scenarios"] == 30 and summary["q05"] <= summary["q50"] <= summary["q95"]
    assert "total cost: mean" in done.stdout


def test_simulate_refuses_a_policy_of_another_case(run, tmp_path):
    done = caudal("simulate", "brazil4", "--stages", "5", "--policy", str(run), "-o", str(tmp_path))
    assert done.returncode == 2  # a usage error (issue 20: it was 1)
    assert "trained on" in done.stderr


@pytest.mark.parametrize("kind,extra", [("convergence", []), ("cuts", ["--stage", "1", "--state", "stored_0"])])
def test_plots_are_pngs(run, kind, extra):
    done = caudal("plot", kind, str(run), *extra)
    assert done.returncode == 0, done.stderr
    written = done.stdout.split("wrote ", 1)[1].strip()
    with open(written, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_fan_plot_of_a_simulation(run):
    out = run / "sim_fan"
    simulated = caudal("simulate", "brazil4", "--stages", "4", "--policy", str(run), "-n", "20", "-o", str(out))
    assert simulated.returncode == 0, simulated.stderr
    done = caudal("plot", "fan", str(out), "--column", "state:stored_1")
    assert done.returncode == 0, done.stderr
    bad = caudal("plot", "fan", str(out), "--column", "nonsense")
    assert bad.returncode == 2 and "no column 'nonsense'" in bad.stderr
