"""What the launcher says about this process, read from its environment, before MPI starts.

A launcher (``mpiexec``, ``mpirun``, ``srun``) tells every task it starts how many
tasks there are through environment variables. caudal reads them for two reasons:

* to decide whether to start MPI at all (a plain ``caudal train`` needs no MPI, and
  mpi4py is an optional dependency);
* to refuse the classic mistake of an mpi4py built against another MPI than the
  launcher's: each task then initialises MPI as a singleton, sees a world of one,
  and N tasks would run N independent trainings into one output folder.

Which variable each launcher sets (checked here on MPICH 5 Hydra and Open MPI 4.1; the others from
their documentation):

* MPICH's and Intel MPI's Hydra ``mpiexec``: ``PMI_SIZE``, ``PMI_RANK`` (and
  ``MPI_LOCALNRANKS``, the ranks on this node only). ``srun --mpi=pmi2`` sets
  ``PMI_SIZE`` too.
* Open MPI's ``mpirun`` (4.1): ``OMPI_COMM_WORLD_SIZE``, and PMIx variables
  (``PMIX_RANK``, ``PMIX_NAMESPACE``) that carry no task count.
* MVAPICH's ``mpirun_rsh``: ``MV2_COMM_WORLD_SIZE``.
* ``srun``: ``SLURM_STEP_NUM_TASKS`` in every task of the step. ``SLURM_NTASKS`` is
  not used: a batch script's own shell has it too (the allocation's count, with
  ``SLURM_PROCID=0``), and caudal run there is one process on purpose.

A task may inherit variables from an outer launcher (``caudal scaling`` run inside an
``srun`` step starts ``mpiexec -n 1`` children). The innermost launcher rewrites its
own variables, and the MPI launchers are the inner ones, so their variables are read
first and the first one present decides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

TASK_COUNT_VARIABLES = (
    "OMPI_COMM_WORLD_SIZE",  # Open MPI's mpirun
    "PMI_SIZE",  # Hydra (MPICH, Intel MPI), srun --mpi=pmi2
    "MV2_COMM_WORLD_SIZE",  # MVAPICH's mpirun_rsh
    "SLURM_STEP_NUM_TASKS",  # srun (only with SLURM_PROCID: inside a step's task)
)
"""Variables that give the launcher's task count, innermost launcher first."""

PRESENCE_VARIABLES = ("PMIX_RANK",)
"""Variables that say a launcher started this process without saying how many tasks it started."""

RANKS_PER_NODE = "CAUDAL_RANKS_PER_NODE"
"""Group world ranks into emulated nodes of this many consecutive ranks (tests, one host)."""

INSTALL_MPI = (
    "install it with `pip install 'caudal[mpich]'`, or build it against the site's MPI with "
    "`env MPICC=$(which mpicc) pip install --no-binary mpi4py mpi4py` (see docs/cluster.md)"
)


class LaunchError(SystemExit):
    """This process cannot run as the launcher started it; exit status 2 (usage), after the message."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class LauncherTasks:
    """The task count a launcher announced, and the variable that said so."""

    count: int
    variable: str
    value: str

    def seen(self) -> str:
        return f"{self.variable}={self.value}"


def launcher_tasks(environ: Mapping[str, str] | None = None) -> LauncherTasks | None:
    """The launcher's task count for this process, or None when no launcher started it.

    A variable that is not a positive integer is ignored (it was not written by a launcher).
    """
    environ = os.environ if environ is None else environ
    for variable in TASK_COUNT_VARIABLES:
        if variable not in environ:
            continue
        if variable == "SLURM_STEP_NUM_TASKS" and "SLURM_PROCID" not in environ:
            continue
        count = _positive_int(environ[variable])
        if count is not None:
            return LauncherTasks(count, variable, environ[variable])
    for variable in PRESENCE_VARIABLES:
        rank = _positive_int(environ.get(variable, ""), allow_zero=True)
        if rank is not None:
            # a task of rank k knows there are at least k+1 tasks
            return LauncherTasks(rank + 1, variable, environ[variable])
    return None


RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
"""Variables that give this task's rank among the launcher's tasks, innermost launcher first."""


def launcher_rank(environ: Mapping[str, str] | None = None) -> int | None:
    """This task's rank according to its launcher, or None when no launcher says.

    Used before (or instead of) MPI, so that a refusal is printed by one task only.
    """
    environ = os.environ if environ is None else environ
    for variable in RANK_VARIABLES:
        rank = _positive_int(environ.get(variable, ""), allow_zero=True)
        if rank is not None:
            return rank
    return None


def comm_choice(environ: Mapping[str, str] | None = None) -> str:
    """``CAUDAL_COMM``: "mpi" or "single" to force a communicator, "" to follow the launcher."""
    environ = os.environ if environ is None else environ
    choice = environ.get("CAUDAL_COMM", "").strip().lower()
    return choice if choice in ("mpi", "single") else ""


def ranks_per_node(environ: Mapping[str, str] | None = None) -> int | None:
    """The ``CAUDAL_RANKS_PER_NODE`` override, or None when unset; a bad value is a :class:`LaunchError`."""
    environ = os.environ if environ is None else environ
    text = environ.get(RANKS_PER_NODE, "").strip()
    if not text:
        return None
    value = _positive_int(text)
    if value is None:
        raise LaunchError(f"{RANKS_PER_NODE}={text!r}: must be a positive integer (ranks per emulated node)")
    return value


def mismatch_message(tasks: LauncherTasks) -> str:
    """Why a world of one under a launcher of several tasks is refused, naming the likely cause."""
    return (
        f"the launcher started {tasks.count} tasks ({tasks.seen()}) but MPI in this process sees a world "
        "of 1 rank: mpi4py is built against another MPI than the launcher's, and the tasks would run "
        "as independent trainings; rebuild mpi4py with the launcher's MPI "
        "(`env MPICC=$(which mpicc) pip install --no-binary mpi4py --force-reinstall mpi4py`) or launch "
        "with that MPI's own mpiexec (see docs/cluster.md)"
    )


def missing_mpi_message(tasks: LauncherTasks | None, reason: str) -> str:
    """Why a launch of several tasks (or ``CAUDAL_COMM=mpi``) is refused when mpi4py cannot be loaded."""
    started = f"the launcher started {tasks.count} tasks ({tasks.seen()})" if tasks else "CAUDAL_COMM=mpi is set"
    return f"{started} but mpi4py cannot be loaded ({reason}); {INSTALL_MPI}"


def _positive_int(text: str, allow_zero: bool = False) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value > 0 or (allow_zero and value == 0) else None
