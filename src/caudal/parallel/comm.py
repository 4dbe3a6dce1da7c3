"""The communicator: one interface, an MPI backend and a single-process stand-in.

The algorithm has one code path. Under ``mpiexec``/``mpirun``/``srun`` it talks to
the other ranks through :class:`MPICommunicator`; run plainly it gets a
:class:`SingleProcessCommunicator` of size one whose collectives are copies.
mpi4py is imported only when a launcher is detected (or ``CAUDAL_COMM=mpi``), so
caudal works for single-process use where MPI is not installed.

Collectives move flat numpy buffers (``Allgatherv``, ``Allreduce``, ``Bcast``),
never pickles, on the training's hot path.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Protocol

import numpy as np

# Environment variables that launchers set in every rank they start.
LAUNCHER_VARIABLES = (
    "PMI_SIZE",  # MPICH / Hydra, Intel MPI
    "PMIX_RANK",  # PMIx launchers (Open MPI 5, srun --mpi=pmix)
    "OMPI_COMM_WORLD_SIZE",  # Open MPI
    "MV2_COMM_WORLD_SIZE",  # MVAPICH
)


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

    def abort(self, code: int) -> None:
        sys.exit(code)

    def describe(self) -> str:
        return f"1 rank on {socket.gethostname()} ({cores_available()} cores available)"


class MPICommunicator:
    """The MPI backend, over ``MPI.COMM_WORLD`` and a node-local communicator."""

    is_mpi = True

    def __init__(self, communicator=None) -> None:
        """Over ``communicator`` (an mpi4py communicator; default ``COMM_WORLD``)."""
        from mpi4py import MPI

        self.MPI = MPI
        self.world = communicator if communicator is not None else MPI.COMM_WORLD
        self.rank = self.world.Get_rank()
        self.size = self.world.Get_size()
        self.node = self.world.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
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

    def split(self, color: int) -> MPICommunicator:
        """The ranks of the same ``color``, as a communicator of their own (collective)."""
        return MPICommunicator(self.world.Split(color, key=self.rank))

    def abort(self, code: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self.MPI.COMM_WORLD.Abort(code)
        os._exit(code)  # MPI_Abort may return before the launcher kills this rank

    def describe(self) -> str:
        cores = np.empty(self.size, dtype=np.int64)
        self.world.Allgather(np.array([cores_available()], dtype=np.int64), cores)
        spread = f"{cores.min()}" if cores.min() == cores.max() else f"{cores.min()}..{cores.max()}"
        return (
            f"{self.size} ranks on {self.n_nodes} node{'s' if self.n_nodes > 1 else ''} "
            f"({self.node_size} on this one, {socket.gethostname()}); {spread} cores available per rank"
        )


def launched_by_mpi() -> bool:
    """Whether this process was started by an MPI launcher with more than one rank, or told to use MPI."""
    choice = os.environ.get("CAUDAL_COMM", "").lower()
    if choice in ("mpi", "single"):
        return choice == "mpi"
    if any(name in os.environ for name in LAUNCHER_VARIABLES):
        return True
    # srun sets the step's task count in every task it starts. SLURM_NTASKS is not enough: a batch
    # script (and a plain `caudal` command in it) sees the whole allocation's count, and SLURM_PROCID=0.
    return int(os.environ.get("SLURM_STEP_NUM_TASKS", "1") or 1) > 1 and "SLURM_PROCID" in os.environ


_WORLD: Communicator | None = None


def world() -> Communicator:
    """The communicator of this process (created once)."""
    global _WORLD
    if _WORLD is None:
        _WORLD = MPICommunicator() if launched_by_mpi() else SingleProcessCommunicator()
    return _WORLD
