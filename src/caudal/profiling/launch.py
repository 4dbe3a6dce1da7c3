"""Starting ``caudal train`` on R ranks: ``srun`` inside a slurm allocation, else ``mpiexec``.

``mpiexec`` is looked for beside the running Python first (the ``mpich``
wheel puts it there), then on ``PATH``.

Every child launch (``caudal scaling``, the tests) gets :func:`launch_environment`:
the caller's environment without the variables an MPI runtime puts into the
processes it starts. A child ``mpiexec`` that inherits them (Open MPI's
``OMPI_COMM_WORLD_*``, ``OMPI_MCA_orte_*``, ``PMIX_*``; MPICH's ``PMI_*``) takes
itself for part of the parent's job and misbehaves. The user's own settings
(``OMPI_MCA_*`` parameters, ``OMPI_ALLOW_RUN_AS_ROOT``) are kept.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

LAUNCHERS = ("auto", "mpiexec", "srun")

# Prefixes of what the runtimes set in a launched process (PMI/PMIx: MPICH, Intel MPI, Open MPI, srun --mpi).
RUNTIME_PREFIXES = ("PMI_", "PMIX_", "HYDI_", "ORTE_", "PRTE_", "OMPI_")
RUNTIME_NAMES = frozenset({"MPI_LOCALNRANKS", "MPI_LOCALRANKID", "OMPI_MCA_initial_wdir",
                           "OMPI_MCA_shmem_RUNTIME_QUERY_hint"})
# Open MPI's job wiring among the OMPI_MCA_* parameters (launch, daemon URIs, ids).
RUNTIME_MCA_PREFIXES = ("OMPI_MCA_orte_", "OMPI_MCA_ess", "OMPI_MCA_pmix")


def find_mpiexec() -> str:
    beside_python = Path(sys.executable).parent / "mpiexec"
    found = str(beside_python) if beside_python.exists() else shutil.which("mpiexec")
    if found is None:
        raise RuntimeError("mpiexec not found: install an MPI (pip install 'caudal[mpich]', or the site's MPI: "
                           "docs/cluster.md) or run under slurm")
    return found


def resolve_launcher(launcher: str = "auto") -> str:
    """``srun`` when asked or when inside a slurm job (``SLURM_JOB_ID``), else ``mpiexec``."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {LAUNCHERS}, got {launcher!r}")
    if launcher == "auto":
        return "srun" if "SLURM_JOB_ID" in os.environ else "mpiexec"
    return launcher


def launch_prefix(ranks: int, threads: int, launcher: str = "auto") -> list[str]:
    """The command words that start ``ranks`` processes, each allowed ``threads`` cores where binding exists."""
    if resolve_launcher(launcher) == "srun":
        return ["srun", f"--ntasks={ranks}", f"--cpus-per-task={threads}", "--cpu-bind=cores"]
    return [find_mpiexec(), "-n", str(ranks)]


def is_mpi_runtime_variable(name: str) -> bool:
    """Whether an MPI launcher (or an MPI initialized without one) set ``name``, as opposed to the user."""
    if name in RUNTIME_NAMES or name.startswith(RUNTIME_MCA_PREFIXES):
        return True
    if name.startswith("OMPI_MCA_") or name.startswith("OMPI_ALLOW_RUN_AS_ROOT"):
        return False  # the user's Open MPI settings: a child mpiexec needs them as much as the parent did
    return name.startswith(RUNTIME_PREFIXES)


def launch_environment() -> dict[str, str]:
    """The environment of a launched run: the caller's, with MPI detection left to the launcher.

    Built from ``os.environ`` (what this process started with and changed from
    Python), never inherited wholesale: Open MPI's singleton initialization adds
    ``PMIX_*`` and ``OMPI_*`` variables to the C environment a bare ``fork`` passes on.
    """
    environment = {name: value for name, value in os.environ.items() if not is_mpi_runtime_variable(name)}
    environment.pop("CAUDAL_COMM", None)
    environment.pop("CAUDAL_PROFILE", None)
    return environment
