"""The worker pool of a run, with one workspace of the chosen solver per worker.

Which solver a name means is decided in :mod:`caudal.solver.choice`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from threadpoolctl import threadpool_limits

from caudal.parallel.pool import SerialPool, WorkerPool
from caudal.parallel.threads import ThreadPool, available_cores, workers_share_one_node
from caudal.solver.choice import resolve_solver, workspace_factory


def one_blas_thread() -> AbstractContextManager:
    """Hold numpy's BLAS to one thread while caudal's workers run.

    caudal already keeps every core busy with its own workers (one work item
    each); BLAS threads on top would compete with them for the same cores, and
    OpenBLAS's idle threads spin for a while after each call they share.
    """
    return threadpool_limits(limits=1, user_api="blas")


def make_pool(threads: int | None, solver: str, own_cores: int | None = None) -> WorkerPool:
    """A pool of ``threads`` workers, each with its own workspace of the chosen solver.

    ``threads=None`` uses every core this process may run on. One thread means
    no pool threads at all: the caller solves, with a workspace it creates.
    With more, the caller does worker 0's share of each run when the workers
    share one NUMA node (``ThreadPool``'s ``caller_works``). ``own_cores``:
    the cores this process's threads may count as theirs alone (default: all
    it may use); its waiting threads spin only if they fit on them.
    """
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    name = resolve_solver(solver)  # before threads start: an unknown or unavailable solver fails here
    factory = workspace_factory(name)
    n_threads = available_cores() if threads is None else threads
    if n_threads == 1:
        return SerialPool(factory(-1), name)
    return ThreadPool(n_threads, factory, name, caller_works=workers_share_one_node(n_threads), own_cores=own_cores)
