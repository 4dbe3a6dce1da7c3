"""Child launches get the caller's environment without what an MPI runtime put there.

A process that initialized Open MPI (launched, or as a singleton) carries
``OMPI_*``/``PMIX_*`` variables; a child ``mpiexec`` that inherits them takes
itself for part of the parent's job and its ranks' output is lost. The names
below are the ones Open MPI 4.1 and MPICH's Hydra set in their ranks.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

from caudal.profiling.launch import find_mpiexec, is_mpi_runtime_variable, launch_environment

SET_BY_OPEN_MPI = ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_MCA_orte_hnp_uri", "OMPI_MCA_ess",
                   "OMPI_MCA_ess_base_jobid", "OMPI_MCA_pmix", "OMPI_MCA_initial_wdir", "OMPI_UNIVERSE_SIZE",
                   "OMPI_APP_CTX_NUM_PROCS", "PMIX_RANK", "PMIX_NAMESPACE", "PMIX_SERVER_URI41",
                   "ORTE_SCHIZO_DETECTION")
SET_BY_MPICH = ("PMI_RANK", "PMI_SIZE", "PMI_FD", "HYDI_CONTROL_FD", "MPI_LOCALNRANKS", "MPI_LOCALRANKID")
SET_BY_THE_USER = ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "OMPI_MCA_rmaps_base_oversubscribe",
                   "OMPI_MCA_btl", "HYDRA_LAUNCHER", "SLURM_JOB_ID", "PATH")


@pytest.mark.parametrize("name", SET_BY_OPEN_MPI + SET_BY_MPICH)
def test_what_a_launcher_sets_is_recognised(name):
    assert is_mpi_runtime_variable(name)


@pytest.mark.parametrize("name", SET_BY_THE_USER)
def test_the_users_settings_are_kept(name):
    assert not is_mpi_runtime_variable(name)


def test_launch_environment_drops_the_runtime_and_keeps_the_rest(monkeypatch):
    for name in SET_BY_OPEN_MPI + SET_BY_MPICH + SET_BY_THE_USER:
        monkeypatch.setenv(name, "1" if name != "PATH" else "/usr/bin")
    monkeypatch.setenv("CAUDAL_COMM", "mpi")
    environment = launch_environment()
    assert not set(SET_BY_OPEN_MPI + SET_BY_MPICH) & set(environment)
    assert set(SET_BY_THE_USER) <= set(environment)
    assert "CAUDAL_COMM" not in environment, "the child's launcher decides whether it runs under MPI"


# A parent that has initialized MPI (without a launcher: a singleton, as a test process or a
# script calling caudal scaling would) launches two ranks with launch_environment().
PARENT = textwrap.dedent("""\
    import subprocess, sys
    from mpi4py import MPI
    from caudal.profiling.launch import launch_environment
    MPI.COMM_WORLD.Barrier()
    child = "from mpi4py import MPI; print(f'size{MPI.COMM_WORLD.Get_size()}', flush=True)"
    done = subprocess.run([sys.argv[1], "-n", "2", sys.executable, "-c", child], capture_output=True, text=True,
                          env=launch_environment(), timeout=120)
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    sys.exit(done.returncode)
    """)


@pytest.mark.mpi
@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="needs mpi4py")
def test_a_process_that_initialized_mpi_launches_two_ranks():
    done = subprocess.run([sys.executable, "-c", PARENT, find_mpiexec()], capture_output=True, text=True,
                          env=launch_environment(), timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("size2") == 2, done.stdout + done.stderr
