"""``caudal doctor``: what this process will run on, in a dozen lines to paste into a bug report.

On a cluster the usual failures are an mpi4py built against another MPI than
the launcher's (every rank then sees a world of one), a launcher that gives a
rank fewer cores than expected, and a native kernel or HiGHS library loaded
from an unexpected place. Each line names where its value comes from, so a
wrong one points at its cause:

* the MPI library mpi4py is linked to (``MPI.Get_library_version()``, which
  needs no ``MPI_Init``) and the ``mpicc`` it was built with;
* the task count the launcher announced (``SLURM_*``, ``OMPI_*``, ``PMI_*``)
  beside the world size MPI reports, and the ranks per node of each;
* the cores this process may use (its affinity mask) and the machine's count;
* the HiGHS version and the files the native kernel and ``libhighs`` were
  loaded from (read back from ``/proc/self/maps``, not guessed).

Run it as a job step (``srun caudal doctor``, ``mpiexec -n 2 caudal doctor``)
to see what the ranks see; rank 0 prints.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import os
import platform
import sys
from pathlib import Path

# (variable, what it counts), first match wins: a job step's count before the allocation's.
TASK_COUNT_VARIABLES = (
    ("SLURM_STEP_NUM_TASKS", "srun step"),
    ("OMPI_COMM_WORLD_SIZE", "Open MPI mpiexec"),
    ("PMI_SIZE", "PMI (MPICH, Intel MPI)"),
    ("MV2_COMM_WORLD_SIZE", "MVAPICH"),
    ("SLURM_NTASKS", "slurm allocation"),
)
RANKS_PER_NODE_VARIABLES = (
    ("SLURM_STEP_TASKS_PER_NODE", "srun step"),
    ("OMPI_COMM_WORLD_LOCAL_SIZE", "Open MPI mpiexec"),
    ("MPI_LOCALNRANKS", "Hydra (MPICH)"),
    ("SLURM_TASKS_PER_NODE", "slurm allocation"),
)


def add_doctor_command(commands) -> None:
    """The ``doctor`` subcommand (no options)."""
    commands.add_parser(
        "doctor", help="print the MPI, launcher, cores and HiGHS this process sees",
        description="Print caudal's version, the MPI library mpi4py is linked to, the task count and ranks per "
        "node the launcher announced, the cores available, the HiGHS version and where the native kernel and "
        "libhighs were loaded from. Run it under srun/mpiexec to see what the ranks see.",
    )


def run_doctor(args: argparse.Namespace) -> int:
    """Print the report (rank 0 only under MPI); exit status 0."""
    lines, rank = report()
    if rank == 0:
        print("\n".join(lines))
    return 0


def report() -> tuple[list[str], int]:
    """The report's lines, and this process's rank (0 without MPI)."""
    from caudal import __version__

    lines = [f"caudal: {__version__} ({Path(__file__).parent})",
             f"python: {platform.python_version()} ({sys.executable})"]
    lines += mpi_library_lines()
    launcher_lines, rank = launcher_and_world_lines()
    lines += launcher_lines
    lines += core_lines()
    lines += highs_lines()
    return lines, rank


def mpi_library_lines() -> list[str]:
    """The mpi4py version, the MPI library it is linked to and the mpicc it was built with."""
    try:
        import mpi4py
    except ImportError:
        return ["mpi4py: not installed (caudal runs as one process; pip install 'caudal[mpich]', "
                "or build mpi4py against the site's MPI: docs/cluster.md)"]

    lines = [f"mpi4py: {mpi4py.__version__} ({Path(mpi4py.__file__).parent})"]
    config = mpi4py.get_config()
    if config:
        lines.append("mpi4py built with: " + ", ".join(f"{key}={value}" for key, value in sorted(config.items())))
    try:
        from mpi4py import MPI
    except ImportError as exc:  # mpi4py present but its MPI library missing or broken
        return lines + [f"MPI library: cannot load ({exc})"]
    first_line = " ".join(MPI.Get_library_version().strip().splitlines()[0].split())
    major, minor = MPI.Get_version()
    return lines + [f"MPI library: {first_line} (MPI standard {major}.{minor})"]


def first_variable(candidates: tuple[tuple[str, str], ...]) -> str:
    """``VALUE (NAME, what)`` of the first variable set, or ``none``."""
    for name, meaning in candidates:
        if os.environ.get(name):
            return f"{os.environ[name]} ({name}, {meaning})"
    return "none"


def launcher_and_world_lines() -> tuple[list[str], int]:
    """What the launcher announced, and what the communicator caudal would use reports."""
    from caudal.parallel.comm import launched_by_mpi, world

    lines = [f"launcher tasks: {first_variable(TASK_COUNT_VARIABLES)}",
             f"launcher ranks per node: {first_variable(RANKS_PER_NODE_VARIABLES)}"]
    if not launched_by_mpi():
        return lines + ["caudal world: 1 rank, no MPI (not started by mpiexec/srun with several tasks)"], 0
    try:
        comm = world()
    except Exception as exc:  # noqa: BLE001  (a doctor reports any failure to start MPI instead of dying)
        return lines + [f"caudal world: MPI failed to start: {type(exc).__name__}: {exc}"], 0
    nodes = f"{comm.n_nodes} node{'s' if comm.n_nodes > 1 else ''}"
    lines.append(f"caudal world: {comm.size} ranks on {nodes}, {comm.node_size} on this node")
    return lines, comm.rank


def core_lines() -> list[str]:
    from caudal.parallel.comm import cores_available

    return [f"cores: {cores_available()} available to this process (affinity), {os.cpu_count()} on the machine"]


def highs_lines() -> list[str]:
    """The highspy version, the native kernel's file, and the libhighs it runs on (with its version)."""
    lines = []
    try:
        lines.append(f"highspy: {importlib.metadata.version('highspy')}")
    except importlib.metadata.PackageNotFoundError:
        lines.append("highspy: not installed")
    from caudal.solver.native_workspace import NATIVE_AVAILABLE, NATIVE_IMPORT_ERROR

    if NATIVE_AVAILABLE:
        import caudal._native

        lines.append(f"native kernel: {caudal._native.__file__}")
    else:
        lines.append(f"native kernel: not built ({NATIVE_IMPORT_ERROR}); the highspy reference solver is used")
    libraries = loaded_libraries("libhighs")
    if not libraries:
        return lines + ["libhighs: not loaded"]
    for path in libraries:
        lines.append(f"libhighs: {library_version(path)} ({path})")
    return lines


def loaded_libraries(stem: str) -> list[str]:
    """Files mapped into this process whose name starts with ``stem``, as the loader found them."""
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:  # not Linux
        return []
    found = []
    for line in maps:
        path = line.split(maxsplit=5)[-1] if len(line.split()) >= 6 else ""
        if Path(path).name.startswith(stem) and path not in found:
            found.append(path)
    return found


def library_version(path: str) -> str:
    """HiGHS's own version string, from the library's C API (``Highs_version``)."""
    try:
        function = ctypes.CDLL(path).Highs_version
    except (OSError, AttributeError):
        return "version unknown"
    function.restype = ctypes.c_char_p
    return "HiGHS " + function().decode()
