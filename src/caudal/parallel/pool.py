"""Worker pools: who runs the work items of a pass.

A pool owns one solver workspace per worker and runs a task over contiguous
blocks of items. :class:`SerialPool` is the single-worker pool; the threaded
pool has the same interface, so the algorithm has one code path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from caudal.parallel.blocks import block
from caudal.solver.workspace import SolverWorkspace

Task = Callable[[SolverWorkspace, int, int], None]
"""``task(workspace, start, stop)`` solves items ``[start, stop)`` with ``workspace``."""


class WorkerPool(Protocol):
    """Runs tasks over blocks of items, one block per worker."""

    @property
    def size(self) -> int: ...

    @property
    def workspaces(self) -> Sequence[SolverWorkspace]: ...

    def run(self, task: Task, first: int, stop: int, one_at_a_time: bool = False) -> None:
        """Deal items ``[first, stop)`` to the workers and wait for all.

        In blocks by default: one call ``task(ws, start, stop)`` per worker.
        With ``one_at_a_time``, each worker claims the next unclaimed item as
        soon as it is free, ``task(ws, k, k + 1)``: for a few items of
        uneven cost, where blocks would leave a worker idle.
        """

    def close(self) -> None: ...


class SerialPool:
    """One worker: the calling thread."""

    def __init__(self, workspace: SolverWorkspace, solver_name: str = "highspy"):
        self._workspaces = (workspace,)
        self.solver_name = solver_name

    @property
    def size(self) -> int:
        return 1

    @property
    def workspaces(self) -> Sequence[SolverWorkspace]:
        return self._workspaces

    def run(self, task: Task, first: int, stop: int, one_at_a_time: bool = False) -> None:
        start, end = block(stop - first, 1, 0)  # one worker: one block serves either dealing
        if end > start:
            task(self._workspaces[0], first + start, first + end)

    def close(self) -> None:
        pass
