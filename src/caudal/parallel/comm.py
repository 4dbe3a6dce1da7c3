"""The communicator: one interface, an MPI backend and a single-process stand-in.

The algorithm has one code path. Under ``mpiexec``/``mpirun``/``srun`` it talks to
the other ranks through :class:`MPICommunicator`; run plainly it gets a
:class:`SingleProcessCommunicator` of size one whose collectives are copies.
mpi4py is optional and imported only when a launcher is detected (or
``CAUDAL_COMM=mpi``), so caudal works for single-process use where MPI is not
installed; :func:`world` refuses a launch of several tasks that MPI cannot join
(mpi4py missing, or built against another MPI than the launcher's), see
:mod:`caudal.parallel.launcher`.

Collectives move flat numpy buffers (``Allgatherv``, ``Allreduce``, ``Bcast``),
never pickles, on the training's hot path. Node-shared memory
(:mod:`caudal.parallel.shared_memory`) is a capability of the communicator too, so
the algorithm layer never touches MPI windows.
"""

from __future__ import annotations

import os
import sys
import time
from typing import NoReturn, Protocol

import numpy as np

from caudal.parallel.launcher import (
    LaunchError,
    comm_choice,
    launcher_rank,
    launcher_tasks,
    mismatch_message,
    missing_mpi_message,
    ranks_per_node,
)
from caudal.parallel.shared_memory import LocalSharedArray, MPISharedArray, SharedArray

ABORT_GRACE_SECONDS = 0.3
"""How long a failing rank waits, its error written, before it aborts the job (see ``abort``)."""


class Communicator(Protocol):
    """What the algorithm needs from the other ranks."""

    rank: int
    size: int
    node_rank: int  # rank within this node's ranks
    node_size: int  # ranks on this node
    n_nodes: int

    def allgather_rows(self, local: np.ndarray) -> np.ndarray:
        """Concatenate every rank's rows (axis 0) in rank order; counts may differ."""

    def allreduce_sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum over ranks."""

    def bcast_into(self, buffer: np.ndarray, root: int = 0) -> None:
        """Overwrite ``buffer`` on every rank with ``root``'s."""

    def barrier(self) -> None: ...

    def node_barrier(self) -> None: ...

    def node_bcast_into(self, buffer: np.ndarray) -> None:
        """Overwrite ``buffer`` on every rank of this node with the node leader's."""

    def shared_array(self, rows: int = 0, row_shape: tuple[int, ...] = (), dtype=np.float64) -> SharedArray:
        """A node-shared array of ``rows`` rows (collective on the node; see :mod:`caudal.parallel.shared_memory`)."""

    def abort(self, code: int) -> None:
        """End every rank of the job now."""

    def describe(self) -> str:
        """One line on the layout, for the log."""


def cores_available() -> int:
    """Cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class SingleProcessCommunicator:
    """A communicator of one rank: every collective is a copy."""

    rank = 0
    size = 1
    node_rank = 0
    node_size = 1
    n_nodes = 1
    is_mpi = False

    def allgather_rows(self, local: np.ndarray) -> np.ndarray:
        return np.array(local, copy=True)

    def allreduce_sum(self, values: np.ndarray) -> np.ndarray:
        return np.array(values, copy=True)

    def bcast_into(self, buffer: np.ndarray, root: int = 0) -> None:
        pass

    def barrier(self) -> None:
        pass

    def node_barrier(self) -> None:
        pass

    def node_bcast_into(self, buffer: np.ndarray) -> None:
        pass

    def shared_array(self, rows: int = 0, row_shape: tuple[int, ...] = (), dtype=np.float64) -> SharedArray:
        return LocalSharedArray(rows, row_shape, dtype)

    def abort(self, code: int) -> None:
        sys.exit(code)

    def describe(self) -> str:
        return f"1 rank on {_hostname()} ({cores_available()} cores available)"


class MPICommunicator:
    """The MPI backend, over ``MPI.COMM_WORLD`` and a node-local communicator.

    The node communicator holds the ranks that share memory (``COMM_TYPE_SHARED``).
    With ``ranks_per_node=k`` (``CAUDAL_RANKS_PER_NODE``) each real node is cut
    further into emulated nodes of k consecutive world ranks, each with its own
    leader and shared windows: the multi-node code paths then run on one host.
    """

    is_mpi = True

    def __init__(self, communicator=None, ranks_per_node: int | None = None) -> None:
        """Over ``communicator`` (an mpi4py communicator; default ``COMM_WORLD``)."""
        from mpi4py import MPI

        self.MPI = MPI
        self.world = communicator if communicator is not None else MPI.COMM_WORLD
        self.rank = self.world.Get_rank()
        self.size = self.world.Get_size()
        self.ranks_per_node = ranks_per_node
        self.node = self.world.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        if ranks_per_node is not None:
            # by world rank, so a sub-communicator (split) keeps the nodes of the world;
            # within a real node, so an emulated node never spans two hosts
            real_node = self.node
            self.node = real_node.Split(MPI.COMM_WORLD.Get_rank() // ranks_per_node, key=self.rank)
            real_node.Free()
        self.node_rank = self.node.Get_rank()
        self.node_size = self.node.Get_size()
        leaders = np.array([1 if self.node_rank == 0 else 0], dtype=np.int64)
        self.n_nodes = int(self.allreduce_sum(leaders)[0])

    def allgather_rows(self, local: np.ndarray) -> np.ndarray:
        local = np.ascontiguousarray(local)
        row_shape = local.shape[1:]
        row_size = int(np.prod(row_shape)) if row_shape else 1
        counts = np.empty(self.size, dtype=np.int64)
        self.world.Allgather(np.array([local.shape[0]], dtype=np.int64), counts)
        total = int(counts.sum())
        out = np.empty((total,) + row_shape, dtype=local.dtype)
        items = counts * row_size
        displacements = np.zeros(self.size, dtype=np.int64)
        np.cumsum(items[:-1], out=displacements[1:])
        mpi_type = self.MPI._typedict[local.dtype.char]
        self.world.Allgatherv([local, mpi_type], [out, (items, displacements), mpi_type])
        return out

    def allreduce_sum(self, values: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(values)
        out = np.empty_like(values)
        self.world.Allreduce(values, out, op=self.MPI.SUM)
        return out

    def bcast_into(self, buffer: np.ndarray, root: int = 0) -> None:
        self.world.Bcast(buffer, root=root)

    def barrier(self) -> None:
        self.world.Barrier()

    def node_barrier(self) -> None:
        self.node.Barrier()

    def node_bcast_into(self, buffer: np.ndarray) -> None:
        self.node.Bcast(buffer, root=0)

    def shared_array(self, rows: int = 0, row_shape: tuple[int, ...] = (), dtype=np.float64) -> SharedArray:
        return MPISharedArray(self.node, self.MPI, rows, row_shape, dtype)

    def split(self, color: int) -> MPICommunicator:
        """The ranks of the same ``color``, as a communicator of their own (collective)."""
        return MPICommunicator(self.world.Split(color, key=self.rank), self.ranks_per_node)

    def abort(self, code: int) -> None:
        from caudal.parallel.rank_guard import explained

        explained()  # an abort comes with its own message: the guard must not report a silent death
        sys.stdout.flush()
        sys.stderr.flush()
        # The launcher forwards this rank's output from a pipe, and MPI_Abort makes it tear the job down: give it
        # a moment to read the error just written, or the job can end with an empty standard error (seen under
        # load with MPICH's hydra).
        time.sleep(ABORT_GRACE_SECONDS)
        self.MPI.COMM_WORLD.Abort(code)
        os._exit(code)  # MPI_Abort may return before the launcher kills this rank

    def describe(self) -> str:
        cores = np.empty(self.size, dtype=np.int64)
        self.world.Allgather(np.array([cores_available()], dtype=np.int64), cores)
        spread = f"{cores.min()}" if cores.min() == cores.max() else f"{cores.min()}..{cores.max()}"
        emulated = f" (emulated, {self.ranks_per_node} ranks each)" if self.ranks_per_node else ""
        return (
            f"{self.size} ranks on {self.n_nodes} node{'s' if self.n_nodes > 1 else ''}{emulated} "
            f"({self.node_size} on this one, {_hostname()}); {spread} cores available per rank"
        )


def launched_by_mpi() -> bool:
    """Whether this process was started by an MPI launcher, or told to use MPI (``CAUDAL_COMM=mpi``).

    A one-task srun step counts as no launcher: caudal there is one process, as in the batch shell.
    """
    choice = comm_choice()
    if choice:
        return choice == "mpi"
    tasks = launcher_tasks()
    return tasks is not None and (tasks.variable != "SLURM_STEP_NUM_TASKS" or tasks.count > 1)


_WORLD: Communicator | None = None


def world() -> Communicator:
    """The communicator of this process (created once).

    Raises :class:`~caudal.parallel.launcher.LaunchError` (exit status 2, message
    printed) when the launcher started several tasks that cannot form one MPI world,
    or when ``CAUDAL_RANKS_PER_NODE`` is not a positive integer.
    """
    global _WORLD
    if _WORLD is None:
        _WORLD = _make_world()
    return _WORLD


def _make_world() -> Communicator:
    choice = comm_choice()
    if not launched_by_mpi():
        try:
            ranks_per_node()  # a bad value is refused here too, not only under MPI
        except LaunchError as error:
            _refuse(error.message)
        return SingleProcessCommunicator()
    tasks = launcher_tasks()
    several = tasks is not None and tasks.count > 1
    try:
        from mpi4py import MPI  # initialises MPI
    except (ImportError, RuntimeError) as exc:  # not installed, or its MPI library cannot be loaded
        if several or choice == "mpi":
            reason = str(exc) or type(exc).__name__
            _refuse(missing_mpi_message(tasks if several else None, reason), speak=launcher_rank() in (None, 0))
        return SingleProcessCommunicator()
    try:
        per_node = ranks_per_node()
    except LaunchError as error:
        _refuse(error.message, speak=MPI.COMM_WORLD.Get_rank() == 0)
    comm = MPICommunicator(ranks_per_node=per_node)
    if comm.size == 1 and several:
        # every task is rank 0 of a world of its own; the launcher's rank says which one speaks
        assert tasks is not None
        _refuse(mismatch_message(tasks), speak=launcher_rank() in (None, 0))
    return comm


def _refuse(message: str, speak: bool = True) -> NoReturn:
    """Print ``message`` (once per job: from the rank that ``speak``s) and exit with status 2."""
    if speak:
        print(f"caudal: error: {message}", file=sys.stderr, flush=True)
    raise LaunchError(message)


def _hostname() -> str:
    """This machine's name: ``socket.gethostname()`` without importing ``socket`` (and its selectors)."""
    return os.uname().nodename
