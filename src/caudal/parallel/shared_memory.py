"""Node-shared arrays: one copy per node, written by the node's leader, read by every rank of the node.

Ranks on one node hold the same large, slowly changing data (the stage LPs with
their cuts; later the cut pools). Keeping one copy per node instead of one per rank
is what lets a node run as many ranks as it has cores at production size. A
:class:`~caudal.parallel.comm.Communicator` hands them out with
``comm.shared_array(rows, row_shape, dtype)``; the algorithm never sees MPI.

What an implementation of :class:`SharedArray` must define
----------------------------------------------------------

``array``
    The whole allocation as a numpy array of ``capacity`` rows of ``row_shape``.
    Writable on the writer (the node leader, node rank 0); a read-only view of the
    same pages on every other rank of the node. It is a new object after
    :meth:`~SharedArray.reserve` and :meth:`~SharedArray.free`: views taken from the
    old one must be dropped (their memory is freed).
``capacity``
    Rows the allocation holds. Callers keep their own count of rows in use.
``is_writer``
    Whether this rank may write (the same rank for every array of a node).
``nbytes``
    Bytes of memory the node holds for the array (what counts against the node's
    memory once, however many ranks map it).
``reserve(rows, keep=0)``
    Collective over the node's ranks, called by all with the same arguments. When
    ``rows`` exceeds ``capacity``, allocate ``rows`` rows exactly, copy the first
    ``keep`` rows of the old allocation into the new one (the writer does the copy),
    then free the old allocation. Growth policy (how much headroom to ask for) is the
    caller's: a stage LP cache rewrites its arrays on every change, a cut pool
    appends and asks for ``keep = rows in use``.
``free()``
    Collective over the node's ranks: release the memory.

Ordering is the caller's, with the communicator's ``node_barrier``: the writer
writes, every rank of the node passes ``node_barrier``, then every rank reads; and
nobody reads while the writer rewrites (a barrier before the write when readers
could still be busy). ``reserve`` itself ends with every rank able to read the
copied rows.

Two implementations: :class:`LocalSharedArray` (one process: a plain numpy array)
and :class:`MPISharedArray` (``MPI.Win.Allocate_shared`` on the node communicator).
"""

from __future__ import annotations

from math import prod
from typing import Protocol

import numpy as np


class SharedArray(Protocol):
    """An array held once per node (see the module docstring for the contract)."""

    array: np.ndarray
    capacity: int
    is_writer: bool

    @property
    def nbytes(self) -> int: ...

    def reserve(self, rows: int, keep: int = 0) -> None: ...

    def free(self) -> None: ...


class _RowLayout:
    """What both kinds of node array share: a row shape and dtype, and holding no rows at first and after free."""

    def __init__(self, row_shape: tuple[int, ...], dtype) -> None:
        self.row_shape = tuple(row_shape)
        self.dtype = np.dtype(dtype)
        self._hold_no_rows()

    def _hold_no_rows(self) -> None:
        self.capacity = 0
        self.array = np.empty((0, *self.row_shape), dtype=self.dtype)


class LocalSharedArray(_RowLayout):
    """A node of one rank: the shared array is a plain numpy array this process writes and reads."""

    is_writer = True

    def __init__(self, rows: int = 0, row_shape: tuple[int, ...] = (), dtype=np.float64) -> None:
        super().__init__(row_shape, dtype)
        self.reserve(rows)

    @property
    def nbytes(self) -> int:
        return self.array.nbytes

    def reserve(self, rows: int, keep: int = 0) -> None:
        _check_keep(keep, self.capacity)
        if rows <= self.capacity:
            return
        grown = np.empty((rows, *self.row_shape), dtype=self.dtype)
        grown[:keep] = self.array[:keep]
        self.array = grown
        self.capacity = rows

    def free(self) -> None:
        self._hold_no_rows()


class MPISharedArray(_RowLayout):
    """An MPI-3 shared-memory window on the node communicator: the leader allocates, the others map it.

    The leader asks for the whole window and the other ranks for zero bytes, so the
    pages live in one segment that every rank of the node maps through
    ``Shared_query(0)``.
    """

    def __init__(self, node, mpi, rows: int = 0, row_shape: tuple[int, ...] = (), dtype=np.float64) -> None:
        """On ``node`` (an mpi4py communicator whose ranks share memory), with ``mpi`` the ``mpi4py.MPI`` module."""
        self._node = node
        self._mpi = mpi
        self._window = None
        self.is_writer = node.Get_rank() == 0
        super().__init__(row_shape, dtype)
        self.reserve(rows)

    @property
    def nbytes(self) -> int:
        return self.capacity * self._row_items() * self.dtype.itemsize

    def _row_items(self) -> int:
        return prod(self.row_shape)

    def reserve(self, rows: int, keep: int = 0) -> None:
        _check_keep(keep, self.capacity)
        if rows <= self.capacity:
            return
        items = rows * self._row_items()
        size = items * self.dtype.itemsize if self.is_writer else 0
        window = self._mpi.Win.Allocate_shared(size, self.dtype.itemsize, comm=self._node)
        buffer, _ = window.Shared_query(0)
        grown = np.frombuffer(buffer, dtype=self.dtype, count=items).reshape((rows, *self.row_shape))
        if self.is_writer:
            grown[:keep] = self.array[:keep]
        else:
            grown.flags.writeable = False
        # the copy is complete before a reader looks at the new window or the old one is freed
        self._node.Barrier()
        old, self._window, self.array, self.capacity = self._window, window, grown, rows
        if old is not None:
            old.Free()

    def free(self) -> None:
        self._hold_no_rows()
        if self._window is not None:
            window, self._window = self._window, None
            window.Free()


def _check_keep(keep: int, capacity: int) -> None:
    if not 0 <= keep <= capacity:
        raise ValueError(f"cannot keep {keep} rows of a shared array of {capacity}")
