"""Choosing the worker pool and the solver for a run."""

from __future__ import annotations

from caudal.parallel.pool import SerialPool, WorkerPool
from caudal.solver.highspy_workspace import HighspyWorkspace

SOLVERS = ("auto", "native", "highspy")


def make_pool(threads: int | None, solver: str) -> WorkerPool:
    """A pool of ``threads`` workers, each with its own workspace of the chosen solver."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return SerialPool(HighspyWorkspace(), "highspy")
