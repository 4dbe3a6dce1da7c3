"""A fixed pool of worker threads, each pinned to a NUMA node and owning its workspace.

The pool is created once per run and reused for every pass. Each worker thread,
as its first act, pins itself to the cores of its NUMA node and then *creates*
its solver workspace, so the workspace's buffers are allocated and zero-filled
by the thread that will use them and their pages land on that thread's node
(first touch). On a machine with one NUMA node (the common case) the code path
is the same; every worker simply gets node 0.

:meth:`ThreadPool.run` deals items ``[first, stop)`` in contiguous blocks
(:func:`caudal.parallel.blocks.block`), one per worker, or one item at a time
to whichever worker is free, and waits for all of them. The kernels release
the GIL, so plain Python threads run the solves in parallel. An exception
raised in a worker is re-raised in the caller: the one of the lowest block or
item, if several fail, so the error is the same whatever the timing. An
error of the pool's own code in a worker (its wait, say) is raised before
any item's, on every run, and never kills the thread that would report it.

With ``caller_works`` (what :func:`caudal.parallel.workers.make_pool` asks for
when every worker is on one NUMA node), the calling thread does worker 0's
share itself, with worker 0's workspace, while the other workers do theirs:
a run of one item (one forward pass, one backward trial state) then never
leaves the caller's thread. Handing such an item to a worker thread and
waiting for it cost more than the item on 4ree with one forward pass (the
two wake-ups, and the solves running on whichever core the woken thread got,
away from the cache the caller just filled with the stage's LP):
``benchmarks/fixed_work.py``. Worker thread 0 still creates workspace 0
(first touch) and then idles; results do not depend on which thread solves
an item, so they stay the same bits.

A worker that has finished its job, and the caller waiting for the workers'
reports, spin (without the GIL, in the native kernels) for up to ``SPIN_NS``
before they block on their queue: waking a sleeping thread takes tens of
microseconds on a virtual machine, and with one forward pass a backward stage
hands work over every few hundred. They spin only when the spinning threads
fit on cores of their own (``own_cores``). A worker a job woke then spins a
little longer, until the caller's kernel has left the GIL free
(``GIL_WAIT_NS``), rather than sleep on the GIL the caller still holds.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from caudal.parallel.blocks import block
from caudal.parallel.pool import Task
from caudal.solver.native_workspace import SPIN_WHILE_TOTAL_IS
from caudal.solver.workspace import SolverWorkspace

WorkspaceFactory = Callable[[int], SolverWorkspace]
"""``factory(numa_node)`` creates one workspace; it is called in the worker thread."""

NODE_ROOT = Path("/sys/devices/system/node")

SPIN_NS = 500_000
"""How long a worker waiting for a job, or the caller for the workers' reports, spins before it sleeps.

A thread asleep on a queue takes tens of microseconds to wake on a virtual
machine, about as long as the hand-over itself (docs/hot-path.md);
a backward stage of a small case hands work over every few hundred
microseconds, so a worker that spins through the gap finds its next job at
once. After ``SPIN_NS`` it sleeps, so an idle pool costs no core.
"""


GIL_WAIT_NS = 200_000
"""How long a worker a job woke spins, at most, until another thread has left the GIL free.

The caller posts a job and then prepares its own item, holding the GIL; a
worker that asked for the GIL then would sleep on it and take tens of
microseconds to wake once the caller lets go (the second worker started a
backward stage of brazil4 175 us after the caller, 131 us with this wait).
Spinning until a kernel runs, it takes the GIL free. Longer than a caller's
preparation of an item, short against a stage. Only for workspaces whose
kernels say they leave the GIL free (``frees_gil_while_solving``): with
others nothing would end the wait early.
"""


POOL_FAILURE = -1
"""The key of an error of the pool's own machinery in a worker (not of a task): below every item, so raised first.

A worker thread whose wait or job wrapper raises keeps taking its jobs and
reports this error for each, so that the caller raises it instead of waiting
forever for a report that a dead thread would never send.
"""


def parse_cpulist(text: str) -> set[int]:
    """The CPUs of a Linux cpulist such as ``"0-3,8-11"`` or ``"5"``."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def numa_nodes(root: Path = NODE_ROOT) -> dict[int, set[int]]:
    """NUMA node id -> its CPUs, from sysfs; an empty dict when sysfs does not say."""
    nodes: dict[int, set[int]] = {}
    if not root.is_dir():
        return nodes
    for entry in root.glob("node[0-9]*"):
        try:
            nodes[int(entry.name[4:])] = parse_cpulist((entry / "cpulist").read_text())
        except (OSError, ValueError):
            continue
    return nodes


def place_workers(threads: int, allowed: set[int], nodes: dict[int, set[int]]) -> list[tuple[int, set[int]]]:
    """The (node id, CPUs) each worker pins to.

    Only the CPUs this process may use count, and nodes without any are
    skipped. Workers are spread over the nodes in contiguous groups, so
    neighbouring blocks of work share a node. Without node information every
    worker gets node 0 and all allowed CPUs.
    """
    usable = [(node, cpus & allowed) for node, cpus in sorted(nodes.items()) if cpus & allowed]
    if not usable:
        usable = [(0, set(allowed))]
    return [usable[w * len(usable) // threads] for w in range(threads)]


def workers_share_one_node(threads: int) -> bool:
    """Whether ``threads`` workers of this process would all be placed on one NUMA node."""
    return len({node for node, _ in place_workers(threads, os.sched_getaffinity(0), numa_nodes())}) == 1


def available_cores() -> int:
    """The number of cores this process may run on."""
    return len(os.sched_getaffinity(0))


class ThreadPool:
    """``threads`` pinned worker threads, each with the workspace it created.

    ``solver_name`` is only reported (layout line). Use as a context manager,
    or call :meth:`close`, to stop the threads. ``caller_works``: the caller
    does worker 0's share of every run (see the module docstring); it is
    refused when the workers span several NUMA nodes, where workspace 0's
    pages would be remote to the unpinned caller. ``own_cores``: the cores
    the pool's threads may count as theirs alone (default: all this process
    may use), which decides whether waiting threads spin.
    """

    def __init__(
        self, threads: int, factory: WorkspaceFactory, solver_name: str, *, pin: bool = True,
        caller_works: bool = False, own_cores: int | None = None,
    ):
        if threads < 1:
            raise ValueError(f"a thread pool needs at least 1 thread, got {threads}")
        self.solver_name = solver_name
        self._placement = place_workers(threads, os.sched_getaffinity(0), numa_nodes())
        if caller_works and len({node for node, _ in self._placement}) > 1:
            raise ValueError("caller_works needs every worker on one NUMA node")
        self.caller_works = caller_works
        self._pin = pin
        self._factory = factory
        self._workspaces: list[SolverWorkspace | None] = [None] * threads
        self._inboxes: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(threads)]
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        # Counts that let a waiting thread spin before it sleeps (SPIN_NS), each written by one thread:
        # the jobs posted to each worker (by the caller) and the reports each worker has put. The queues
        # stay the truth; a count only says whether it is worth spinning. No spinning when the spinners
        # (the workers, and the caller unless it works) would outnumber the cores that are theirs alone
        # (own_cores: MPI ranks of a node may share the cores this process sees): they would take turns.
        self._posted = np.zeros(threads, dtype=np.int64)
        self._reported = np.zeros(threads, dtype=np.int64)
        self._reports_taken = 0
        spinners = threads + (0 if caller_works else 1)
        cores = available_cores() if own_cores is None else min(own_cores, available_cores())
        self._spin = SPIN_WHILE_TOTAL_IS if spinners <= cores else None
        self._gil_wait_ns = 0  # set once the workspaces exist (below); the workers read it at every wait
        self._lock = threading.Lock()  # one run() at a time
        self._closed = False
        self._generation = 0  # numbers the runs, so a run never counts a message of an earlier one
        self._threads = [
            threading.Thread(target=self._work, args=(w,), name=f"caudal-worker-{w}", daemon=True)
            for w in range(threads)
        ]
        for thread in self._threads:
            thread.start()
        failures = self._collect(0, range(threads))
        if failures:
            self.close()
            raise failures[min(failures)]
        # a worker a job woke waits for a free GIL only where kernels leave it free (GIL_WAIT_NS)
        native = all(getattr(ws, "frees_gil_while_solving", False) for ws in self._workspaces)
        self._gil_wait_ns = GIL_WAIT_NS if native else 0

    # -- the interface of WorkerPool -------------------------------------------------
    @property
    def size(self) -> int:
        return len(self._threads)

    @property
    def workspaces(self) -> Sequence[SolverWorkspace]:
        return tuple(self._workspaces)

    @property
    def spins(self) -> bool:
        """Whether waiting threads spin before they sleep (see ``SPIN_NS``)."""
        return self._spin is not None

    @property
    def waits_for_free_gil(self) -> bool:
        """Whether a worker a job woke spins until a kernel has left the GIL free (see ``GIL_WAIT_NS``)."""
        return self._spin is not None and self._gil_wait_ns > 0

    @property
    def nodes(self) -> tuple[int, ...]:
        """The NUMA node of each worker."""
        return tuple(node for node, _ in self._placement)

    def run(self, task: Task, first: int, stop: int, one_at_a_time: bool = False) -> None:
        """Run ``task(workspace, start, end)`` over ``[first, stop)`` and wait; see ``WorkerPool.run``."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the thread pool is closed")
            self._generation += 1
            jobs: dict[int, Callable[[SolverWorkspace], None]] = {}
            if one_at_a_time:
                claims = _Claims(task, first, stop)
                jobs = {w: claims.run for w in range(min(self.size, stop - first))}
            else:
                for w in range(self.size):
                    start, end = block(stop - first, self.size, w)
                    if end > start:
                        jobs[w] = _Block(task, first + start, first + end).run
            own = jobs.pop(0, None) if self.caller_works else None
            for w, job in jobs.items():
                self._inboxes[w].put((self._generation, job))
                self._posted[w] += 1
            failures = {}
            if own is not None:
                try:
                    own(self._workspaces[0])
                except _Failed as failed:
                    failures[failed.item] = failed.error
            failures.update(self._collect(self._generation, jobs))
        if failures:
            raise failures[min(failures)]

    def close(self) -> None:
        """Stop the worker threads (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for w, inbox in enumerate(self._inboxes):
                inbox.put(None)
                self._posted[w] += 1
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> ThreadPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- inside the workers -------------------------------------------------------------
    def _work(self, w: int) -> None:
        """Worker ``w``: pin, create the workspace, then run tasks until told to stop."""
        node, cpus = self._placement[w]
        try:
            if self._pin:
                os.sched_setaffinity(0, cpus)  # 0 is the calling thread on Linux
            workspace = self._factory(node)
        except BaseException as exc:  # reported to the constructor, which raises it
            self._report(w, (0, w, w, exc))
            return
        self._workspaces[w] = workspace
        self._report(w, (0, w, w, None))
        inbox, posted, taken = self._inboxes[w], self._posted[w : w + 1], 0
        broken: BaseException | None = None  # the pool's own machinery failed in this thread
        while True:
            if self._spin is not None and broken is None:
                try:
                    # the job, if it comes soon, is on the queue when this returns, and the GIL likely free
                    self._spin(posted, taken, SPIN_NS, self._gil_wait_ns)
                except BaseException as exc:  # a compiled kernel older than this module, say: report, never hang
                    broken = exc
            job = inbox.get()
            taken += 1
            if job is None:
                break
            generation, run_job = job
            if broken is not None:
                self._report(w, (generation, w, POOL_FAILURE, broken))
                continue
            try:
                run_job(workspace)
            except _Failed as failed:
                self._report(w, (generation, w, failed.item, failed.error))
            except BaseException as exc:  # outside the task: the job's own code
                self._report(w, (generation, w, POOL_FAILURE, exc))
            else:
                self._report(w, (generation, w, w, None))

    def _report(self, w: int, report: tuple) -> None:
        """Put worker ``w``'s report on the done queue, then count it (the caller may be spinning on the count)."""
        self._done.put(report)
        self._reported[w] += 1

    def _collect(self, generation: int, workers: Iterable[int]) -> dict[int, BaseException]:
        """Wait until each of ``workers`` reports on run ``generation``; return their exceptions.

        The exceptions are keyed by the first item of the failed block, or the
        failed item, so the lowest key is the same whatever the timing.

        Reports of earlier runs are dropped: they are left over when a caller
        was interrupted (Ctrl-C) while waiting, and the workers went on.
        """
        failures: dict[int, BaseException] = {}
        waiting = set(workers)
        while waiting:
            if self._spin is not None:
                self._spin(self._reported, self._reports_taken, SPIN_NS)
            run, w, item, exc = self._done.get()
            self._reports_taken += 1
            if run != generation:
                continue
            waiting.discard(w)
            if exc is not None:
                failures[item] = exc
        return failures


class _Failed(Exception):
    """A work item's exception, with the item it came from."""

    def __init__(self, item: int, error: BaseException):
        super().__init__(item, error)
        self.item = item
        self.error = error


class _Block:
    """One worker's contiguous block of a run."""

    def __init__(self, task: Task, start: int, stop: int):
        self.task, self.start, self.stop = task, start, stop

    def run(self, ws: SolverWorkspace) -> None:
        try:
            self.task(ws, self.start, self.stop)
        except BaseException as exc:
            raise _Failed(self.start, exc) from exc


class _Claims:
    """Items claimed one at a time by whichever worker is free.

    ``next`` on an ``itertools.count`` is one C call, atomic under the GIL, so
    no two workers claim the same item. After a failure no worker claims more.
    """

    def __init__(self, task: Task, first: int, stop: int):
        self.task, self.stop = task, stop
        self._next = itertools.count(first)
        self._failed = False

    def run(self, ws: SolverWorkspace) -> None:
        while not self._failed and (k := next(self._next)) < self.stop:
            try:
                self.task(ws, k, k + 1)
            except BaseException as exc:
                self._failed = True
                raise _Failed(k, exc) from exc
