"""Starting ``caudal train`` on R ranks: ``srun`` inside a slurm allocation, else ``mpiexec``.

``mpiexec`` is looked for beside the running Python first (the ``mpich``
wheel puts it there), then on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

LAUNCHERS = ("auto", "mpiexec", "srun")


def find_mpiexec() -> str:
    beside_python = Path(sys.executable).parent / "mpiexec"
    found = str(beside_python) if beside_python.exists() else shutil.which("mpiexec")
    if found is None:
        raise RuntimeError("mpiexec not found: install an MPI (pip install mpich) or run under slurm")
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


def launch_environment() -> dict[str, str]:
    """The environment of a launched run: the caller's, with MPI detection left to the launcher."""
    environment = dict(os.environ)
    environment.pop("CAUDAL_COMM", None)
    environment.pop("CAUDAL_PROFILE", None)
    return environment
