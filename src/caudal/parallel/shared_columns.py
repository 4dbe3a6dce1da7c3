"""Growing columns of rows in node-shared memory: one copy per node, appended by the node's leader.

A cut pool is a handful of columns that grow together (intercepts, coefficients,
iteration, ...), appended to between backward stages and read by every rank of
the node, often through views held for a while (a stage LP's reserve cuts). This
module keeps such columns in one node-shared byte array per table (one MPI window,
not one per column: MPI implementations limit how many windows and communicators a
job may hold, and a production case has a table per stage), each column contiguous
so that readers and the native solver code use it without a copy.

Writing and reading follow the node's rule (:mod:`caudal.parallel.shared_memory`):
only the writer (the node leader) writes; every rank of the node passes
:meth:`SharedColumns.publish` (a node barrier) after a write before it reads.

Growth reallocates: :meth:`SharedColumns.reserve` is collective on the node, copies
the rows in use into a new allocation and frees the old one, so views taken from
the old columns must not be read afterwards (under MPI their pages are gone; in one
process they still hold the old rows). Callers take fresh views after appending.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from caudal.parallel.comm import Communicator
from caudal.parallel.shared_memory import SharedArray

ALIGN = 64
"""Each column starts on a cache line."""


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


ColumnSpec = tuple[np.dtype, tuple[int, ...]]
"""A column's dtype and the shape of one of its rows (``()`` for scalars)."""


class SharedColumns:
    """Named columns of ``capacity`` rows each, held in one node-shared byte array.

    Over the single-process communicator (or a private one) this is plain numpy
    memory and :meth:`publish` does nothing: one code path for one rank and many.
    """

    def __init__(self, comm: Communicator, columns: Mapping[str, ColumnSpec], capacity: int) -> None:
        self._comm = comm
        self._spec = {name: (np.dtype(dtype), tuple(shape)) for name, (dtype, shape) in columns.items()}
        self._memory: SharedArray = comm.shared_array(self._bytes(capacity), dtype=np.uint8)
        self.capacity = capacity
        self.columns = self._views(self._memory.array, capacity)

    @property
    def is_writer(self) -> bool:
        """Whether this rank writes the columns (the node leader; always in one process)."""
        return self._memory.is_writer

    @property
    def nbytes(self) -> int:
        """Bytes the node holds for the columns (once, however many ranks map them)."""
        return self._memory.nbytes

    def reserve(self, rows: int, keep: int) -> None:
        """Room for ``rows`` rows, keeping the first ``keep`` (collective on the node).

        Grows to at least twice the capacity, so appending one iteration's cuts at
        a time reallocates a logarithmic number of times.
        """
        if rows <= self.capacity:
            return
        capacity = max(rows, 2 * self.capacity)
        memory = self._comm.shared_array(self._bytes(capacity), dtype=np.uint8)
        columns = self._views(memory.array, capacity)
        if memory.is_writer:
            for name, column in columns.items():
                column[:keep] = self.columns[name][:keep]
        # the copy is complete before anyone reads the new columns or the old ones are freed
        self._comm.node_barrier()
        old, self._memory, self.columns, self.capacity = self._memory, memory, columns, capacity
        old.free()

    def publish(self) -> None:
        """After the writer's write, before anyone reads (collective on the node)."""
        self._comm.node_barrier()

    def free(self) -> None:
        """Release the memory (collective on the node)."""
        self._memory.free()
        self.capacity = 0
        self.columns = self._views(self._memory.array, 0)

    def _layout(self, capacity: int) -> dict[str, tuple[int, int]]:
        """Each column's (start byte, items) in an array of ``capacity`` rows."""
        layout, position = {}, 0
        for name, (dtype, shape) in self._spec.items():
            items = capacity * int(np.prod(shape, dtype=np.int64))
            layout[name] = (position, items)
            position = _aligned(position + items * dtype.itemsize)
        return layout

    def _bytes(self, capacity: int) -> int:
        layout = self._layout(capacity)
        return max((start + items * self._spec[name][0].itemsize for name, (start, items) in layout.items()),
                   default=0)

    def _views(self, memory: np.ndarray, capacity: int) -> dict[str, np.ndarray]:
        views = {}
        for name, (start, items) in self._layout(capacity).items():
            dtype, shape = self._spec[name]
            views[name] = memory[start : start + items * dtype.itemsize].view(dtype).reshape((capacity, *shape))
        return views
