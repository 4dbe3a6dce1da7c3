"""Choosing the worker pool and the solver for a run."""

from __future__ import annotations

from contextlib import AbstractContextManager

from threadpoolctl import threadpool_limits

from caudal.parallel.pool import SerialPool, WorkerPool
from caudal.parallel.threads import ThreadPool, WorkspaceFactory, available_cores
from caudal.solver.highspy_workspace import HighspyWorkspace
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NATIVE_IMPORT_ERROR, NativeWorkspace

SOLVERS = ("auto", "native", "highspy")


def resolve_solver(solver: str) -> str:
    """``"native"`` or ``"highspy"``: ``"auto"`` means native when the extension is built."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if solver == "auto":
        return "native" if NATIVE_AVAILABLE else "highspy"
    if solver == "native" and not NATIVE_AVAILABLE:
        raise RuntimeError(
            f"the native solver is not built ({NATIVE_IMPORT_ERROR}); install caudal with "
            "'pip install .' or choose solver='highspy'"
        )
    return solver


def workspace_factory(solver: str) -> WorkspaceFactory:
    """``factory(numa_node)`` creating one workspace of a resolved solver name."""
    if solver == "native":
        return lambda node: NativeWorkspace(numa_node=node)
    return lambda node: HighspyWorkspace()


def one_blas_thread() -> AbstractContextManager:
    """Hold numpy's BLAS to one thread while caudal's workers run.

    caudal already keeps every core busy with its own workers (one work item
    each); BLAS threads on top would compete with them for the same cores, and
    OpenBLAS's idle threads spin for a while after each call they share.
    """
    return threadpool_limits(limits=1, user_api="blas")


def make_pool(threads: int | None, solver: str) -> WorkerPool:
    """A pool of ``threads`` workers, each with its own workspace of the chosen solver.

    ``threads=None`` uses every core this process may run on. One thread means
    no pool threads at all: the caller solves, with a workspace it creates.
    """
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    name = resolve_solver(solver)
    factory = workspace_factory(name)
    n_threads = available_cores() if threads is None else threads
    if n_threads == 1:
        return SerialPool(factory(-1), name)
    return ThreadPool(n_threads, factory, name)
