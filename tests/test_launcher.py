"""What the launcher's environment makes of caudal: MPI, one process, or a refusal.

* The launcher's task count is read from the variables each launcher really sets,
  innermost launcher first, and not from a batch shell's ``SLURM_NTASKS``.
* Several tasks that see a world of one (mpi4py built against another MPI) are
  refused with exit status 2 and a message naming the cause and the variable.
* Without mpi4py caudal runs as one process, and refuses a launch of several tasks
  with a message saying how to install it.
* ``CAUDAL_RANKS_PER_NODE`` must be a positive integer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mpi_helpers import CASES, run_ranks

from caudal.parallel.launcher import launcher_rank, launcher_tasks, ranks_per_node

LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "MV2_", "SLURM_", "MPI_LOCAL", "HYDRA_", "CAUDAL_")


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any launcher's variables, plus ``variables``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_PREFIXES)}
    environment.update(variables)
    return environment


def run_caudal(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


WORLD_SIZE = "from caudal.parallel.comm import world; print('size', world().size)"


@pytest.mark.parametrize("variables,expected", [
    ({}, None),
    # a batch script's own shell: the allocation's count, and caudal there is one process on purpose
    ({"SLURM_NTASKS": "4", "SLURM_NPROCS": "4", "SLURM_PROCID": "0", "SLURM_JOB_ID": "7"}, None),
    ({"SLURM_STEP_NUM_TASKS": "4", "SLURM_NTASKS": "4", "SLURM_PROCID": "2"}, (4, "SLURM_STEP_NUM_TASKS")),
    ({"PMI_SIZE": "3", "PMI_RANK": "1", "MPI_LOCALNRANKS": "3"}, (3, "PMI_SIZE")),
    ({"OMPI_COMM_WORLD_SIZE": "2", "PMIX_RANK": "0"}, (2, "OMPI_COMM_WORLD_SIZE")),
    ({"MV2_COMM_WORLD_SIZE": "5"}, (5, "MV2_COMM_WORLD_SIZE")),
    ({"PMIX_RANK": "3", "PMIX_NAMESPACE": "x"}, (4, "PMIX_RANK")),  # srun --mpi=pmix gives no count
    # `caudal scaling` inside a 4-task srun step starting `mpiexec -n 1`: the inner launcher decides
    ({"SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "0", "PMI_SIZE": "1", "PMI_RANK": "0"}, (1, "PMI_SIZE")),
    ({"PMI_SIZE": "many"}, None),  # not written by a launcher
])
def test_launcher_task_count(variables, expected):
    tasks = launcher_tasks(variables)
    assert (None if tasks is None else (tasks.count, tasks.variable)) == expected


def test_launcher_rank_and_ranks_per_node():
    assert launcher_rank({"PMI_RANK": "2", "SLURM_PROCID": "0"}) == 2
    assert launcher_rank({}) is None
    assert ranks_per_node({}) is None and ranks_per_node({"CAUDAL_RANKS_PER_NODE": " 3 "}) == 3
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(SystemExit) as refused:
            ranks_per_node({"CAUDAL_RANKS_PER_NODE": bad})
        assert refused.value.code == 2 and "CAUDAL_RANKS_PER_NODE" in str(refused.value)


@pytest.mark.parametrize("variables", [
    {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"},
    {"PMI_SIZE": "4", "PMI_RANK": "0"},
    {"SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2", "SLURM_PROCID": "0", "SLURM_STEP_ID": "0"},
])
def test_several_tasks_seeing_a_world_of_one_are_refused(tmp_path, variables):
    """A singleton MPI world under a launcher of several tasks: mpi4py is built against another MPI."""
    result = subprocess.run(
        [sys.executable, "-m", "caudal", "train", str(CASES / "first_steps.py"), "--iterations", "2",
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, env=clean_environment(**variables),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    variable, value = next(iter(variables.items()))
    assert f"({variable}={value})" in result.stderr and "another MPI than the launcher's" in result.stderr
    assert result.stderr.count("caudal: error:") == 1, result.stderr
    assert not (tmp_path / "out").exists()


def test_a_refusal_is_printed_by_the_launchers_rank_0_only():
    result = run_caudal(WORLD_SIZE, clean_environment(PMI_SIZE="2", PMI_RANK="1"))
    assert result.returncode == 2 and result.stderr == "", result.stderr


def test_a_batch_shell_and_a_one_task_launch_run_as_one_process():
    batch_shell = clean_environment(SLURM_NTASKS="4", SLURM_PROCID="0", SLURM_JOB_ID="7")
    one_task = clean_environment(PMI_SIZE="1", PMI_RANK="0", SLURM_STEP_NUM_TASKS="4", SLURM_PROCID="0")
    for environment in (batch_shell, one_task):
        result = run_caudal(WORLD_SIZE, environment)
        assert (result.returncode, result.stdout.strip()) == (0, "size 1"), result.stderr


@pytest.fixture()
def without_mpi4py(tmp_path) -> Path:
    """A folder that, first on PYTHONPATH, makes ``import mpi4py`` fail as if it were not installed."""
    package = tmp_path / "hide" / "mpi4py"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError(\"No module named 'mpi4py'\")\n")
    return package.parent


def test_without_mpi4py_one_process_runs(without_mpi4py, tmp_path):
    env = clean_environment(PYTHONPATH=os.pathsep.join([str(without_mpi4py), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-m", "caudal", "train", str(CASES / "first_steps.py"), "--iterations", "2",
         "--output", str(tmp_path / "out"), "--quiet"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "summary.json").exists()
    # a one-task launch needs no MPI either
    one_task = dict(env, PMI_SIZE="1", PMI_RANK="0")
    assert run_caudal(WORLD_SIZE, one_task).stdout.strip() == "size 1"


@pytest.mark.parametrize("variables,seen", [
    ({"PMI_SIZE": "2", "PMI_RANK": "0"}, "PMI_SIZE=2"),
    ({"CAUDAL_COMM": "mpi"}, "CAUDAL_COMM=mpi"),
])
def test_without_mpi4py_several_tasks_are_refused(without_mpi4py, variables, seen):
    env = clean_environment(PYTHONPATH=os.pathsep.join([str(without_mpi4py), os.environ.get("PYTHONPATH", "")]),
                            **variables)
    result = run_caudal(WORLD_SIZE, env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert seen in result.stderr and "mpi4py cannot be loaded" in result.stderr
    assert "pip install 'caudal[mpich]'" in result.stderr and "MPICC=" in result.stderr


@pytest.mark.mpi
def test_a_bad_ranks_per_node_is_refused_once_under_mpiexec():
    result = run_ranks(2, ["-c", WORLD_SIZE], env={"CAUDAL_RANKS_PER_NODE": "0"}, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("CAUDAL_RANKS_PER_NODE='0': must be a positive integer") == 1, result.stderr
