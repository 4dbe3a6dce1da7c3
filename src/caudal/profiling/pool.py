"""A worker pool that times every task on the worker that runs it.

Wrapping the pool keeps the instrumentation out of the thread pool itself: the
wrapper adds four clock reads per task (a task is one worker's block, or one
trial state, of one stage: a few hundred per iteration), and books the wall and CPU time on the
worker whose workspace ran it. CPU time below wall time means the worker
thread was waiting for a core: other processes, or more workers than cores.
When ``spans`` is a list, it also keeps each task's start and end, for the
trace of one iteration.

It also keeps what bounds a gain from more threads: a run of ``n`` items
cannot use more than ``n`` workers, whatever the pool's size (one forward
pass, one trial state whose openings are not split, the bound). Per run it
adds the run's task time divided by the workers it could use now and with
twice the workers (:attr:`InstrumentedPool.tasks_even`,
:attr:`~InstrumentedPool.tasks_even_doubled`), i.e. how long its tasks
would take if shared evenly, and the task time of runs too narrow for twice
the workers (:attr:`~InstrumentedPool.tasks_narrow`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from caudal.parallel.pool import Task, WorkerPool
from caudal.solver.workspace import SolverWorkspace


class InstrumentedPool:
    """The :class:`~caudal.parallel.pool.WorkerPool` interface over another pool, with per-worker busy time."""

    def __init__(self, pool: WorkerPool):
        self.inner = pool
        self._worker_of = {id(ws): w for w, ws in enumerate(pool.workspaces)}
        self.busy: list[float] = [0.0] * pool.size  # seconds in tasks, per worker, since the start
        self.busy_cpu: list[float] = [0.0] * pool.size  # CPU seconds of the worker threads in those tasks
        self.spans: list[tuple[int, float, float]] | None = None  # (worker, start, end) while tracing
        # seconds since the start, summed over runs (see the module's docstring)
        self.tasks_even = 0.0  # each run's task time / min(size, its items): the run perfectly balanced
        self.tasks_even_doubled = 0.0  # the same with twice the workers
        self.tasks_narrow = 0.0  # task time of the runs with fewer items than twice the workers

    @property
    def size(self) -> int:
        return self.inner.size

    @property
    def workspaces(self) -> Sequence[SolverWorkspace]:
        return self.inner.workspaces

    def run(self, task: Task, first: int, stop: int, one_at_a_time: bool = False) -> None:
        busy, busy_cpu, worker_of, spans = self.busy, self.busy_cpu, self._worker_of, self.spans
        clock, cpu_clock = time.perf_counter, time.thread_time

        def timed(ws: SolverWorkspace, start: int, end: int) -> None:
            began, cpu = clock(), cpu_clock()
            try:
                task(ws, start, end)
            finally:
                ended = clock()
                w = worker_of[id(ws)]
                busy_cpu[w] += cpu_clock() - cpu
                busy[w] += ended - began  # each worker writes only its own slot
                if spans is not None:
                    spans.append((w, began, ended))

        before = sum(busy)
        self.inner.run(timed, first, stop, one_at_a_time)
        self._book_width(sum(busy) - before, stop - first)

    def _book_width(self, task_seconds: float, items: int) -> None:
        """Book one run's task time against the workers its ``items`` can keep busy, now and doubled."""
        if items <= 0:
            return
        size = self.inner.size
        self.tasks_even += task_seconds / min(size, items)
        self.tasks_even_doubled += task_seconds / min(2 * size, items)
        if items < 2 * size:
            self.tasks_narrow += task_seconds

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str):
        """Anything else (``solver_name``, ``nodes``) is the inner pool's."""
        if name == "inner":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)
