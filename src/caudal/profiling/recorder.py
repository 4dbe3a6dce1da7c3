"""The always-on profiler of a training: one row per iteration x rank x thread.

How the time is found, at a cost of a few microseconds per phase and per task:

* the training loop tells :meth:`RunProfiler.on_phase` of every timed phase as
  it ends (forward, backward stage, communication, cache, bound, stopping);
  checkpoints are timed by wrapping the checkpoint writer;
* the pool wrapper (:class:`~caudal.profiling.pool.InstrumentedPool`) adds up
  each worker's task time; at each phase's end the time the workers ran since
  the previous phase is booked on that phase, and a worker's idle time while
  its rank was in that phase (``phase wall - its busy time``) counts as waiting
  for the other workers of the rank;
* solver counters, RSS and cache sizes are read once per iteration.

An iteration's window runs from the end of one stopping check to the end of
the next, so the rows of an iteration add up to the rank's wall time. Rows
stay on their rank until the next iteration's callback, when one
``allgather_rows`` of flat float64 rows brings them to rank 0; rank 0 writes
``profile.parquet`` (and ``trace.json``) when the training ends; a resumed
run appends its iterations to the profile of the run it resumed.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from caudal._version import __version__
from caudal.model.problem import CompiledProblem
from caudal.parallel.comm import Communicator
from caudal.parallel.pool import WorkerPool
from caudal.profiling import memory
from caudal.profiling.columns import BUSY_KINDS, INDEX, PHASES, SOLVER_COUNTERS, SOLVER_TIMES, STAT_COLUMNS, WIDTH
from caudal.profiling.pool import InstrumentedPool
from caudal.profiling.table import write_profile
from caudal.profiling.trace import ITERATION, PHASE, TASK, TRACE_NAMES, TRACE_WIDTH, write_trace

ENVIRONMENT_SWITCH = "CAUDAL_PROFILE"
"""``CAUDAL_PROFILE=0`` turns profiling off for runs that do not say otherwise."""

PROFILE_FILE = "profile.parquet"
TRACE_FILE = "trace.json"

_KIND = {kind: k for k, kind in enumerate(BUSY_KINDS)}
_OTHER_KIND = _KIND["other"]
_STAT_FIELDS = SOLVER_COUNTERS + SOLVER_TIMES
_STAT_SLICE = [INDEX[name] for name in STAT_COLUMNS]
_WIDTH_COLUMNS = ("tasks_even_s", "tasks_even_doubled_s", "tasks_narrow_s")


class ProfiledOptions(Protocol):
    """The options of a training the profile records (``caudal.sddp.training.TrainingOptions`` has them)."""

    @property
    def forward_passes(self) -> int: ...

    @property
    def seed(self) -> int: ...


class ProfiledState(Protocol):
    """What the profiler reads of a training's state (``caudal.sddp.training.TrainingState`` has it).

    The profiler sees the algorithm through this, the phase hook and the
    worker pool only: it imports nothing of :mod:`caudal.sddp`.
    """

    @property
    def problem(self) -> CompiledProblem: ...

    @property
    def cache(self) -> memory.StageLPs: ...

    @property
    def iteration(self) -> int: ...


def profiling_enabled(profile: bool | None, output: object, trace_iteration: int | None = None) -> bool:
    """Whether a training profiles itself: ``profile`` if given, else on when it writes an output directory.

    ``CAUDAL_PROFILE=0`` in the environment turns the default off.
    """
    if trace_iteration is not None:
        if trace_iteration < 1:
            raise ValueError(f"trace_iteration must be at least 1, got {trace_iteration}")
        if output is None or profile is False:
            raise ValueError("trace_iteration needs an output directory and profiling on")
        return True
    if profile is not None:
        return profile
    return output is not None and os.environ.get(ENVIRONMENT_SWITCH, "1") != "0"


class RunProfiler:
    """Profiles one training on one rank; every rank creates one and calls it in the same places.

    Use: ``pool = profiler.pool`` (the instrumented pool), ``profiler.start(state)``
    before training, ``on_phase`` as the training's phase hook, the profiler
    itself as the last iteration callback, and :meth:`finish` (collective) at
    the end.
    """

    def __init__(
        self,
        pool: WorkerPool,
        comm: Communicator,
        options: ProfiledOptions | None = None,
        trace_iteration: int | None = None,
    ):
        self.pool = InstrumentedPool(pool)
        self.comm = comm
        self.options = options
        self.trace_iteration = trace_iteration
        self._threads = pool.size
        self._state: ProfiledState | None = None
        self._rows: list[np.ndarray] = []  # closed windows not yet gathered
        self._table: list[np.ndarray] = []  # rank 0: every gathered row
        self._trace_local: np.ndarray | None = None
        self._trace_all: np.ndarray | None = None  # rank 0
        self._spans: list[tuple[str, float, float]] | None = None

    # -- the hooks ----------------------------------------------------------------------
    def start(self, state: ProfiledState) -> None:
        """Open the first iteration's window (collective: agrees on the trace's time origin)."""
        self._state = state
        self._iteration = state.iteration + 1
        self._first_iteration = self._iteration  # above 1 when resumed: the profile is appended to
        origin = np.array([time.time()])
        self.comm.bcast_into(origin, root=0)
        now = time.perf_counter()
        self._perf_origin = now - (time.time() - float(origin[0]))  # perf_counter value at rank 0's origin
        self._busy_mark = list(self.pool.busy)
        self._cpu_mark = list(self.pool.busy_cpu)
        self._width_mark = self._width_now()
        self._open_window(now, self._stats_now())

    def on_phase(self, name: str, start: float, end: float) -> None:
        """Book a phase that just ended; the end of a stopping check closes the iteration's window."""
        busy = self.pool.busy
        if busy != self._busy_mark:  # the pool ran in this phase
            kind = self._busy_kinds[_KIND.get(name, _OTHER_KIND)]
            wall = end - start
            wait = self._wait
            for w, (now, before) in enumerate(zip(busy, self._busy_mark, strict=True)):
                kind[w] += now - before
                wait[w] += wall - (now - before)
            self._busy_mark = list(busy)
        self._phase[name] = self._phase.get(name, 0.0) + (end - start)
        if self._spans is not None:
            self._spans.append((name, start, end))
        if name == "stopping":
            self._close_window(end)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a block as phase ``name`` (the final checkpoint)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.on_phase(name, start, time.perf_counter())

    def timed(self, name: str, callback: Callable[[ProfiledState], None]) -> Callable[[ProfiledState], None]:
        """``callback``, timed as phase ``name`` (the checkpoint writer)."""

        def timed_callback(state: ProfiledState) -> None:
            with self.phase(name):
                callback(state)

        return timed_callback

    def __call__(self, state: ProfiledState) -> None:
        """Iteration callback: bring the rows of finished iterations to rank 0 (collective)."""
        began = time.perf_counter()
        self._gather()
        self._own += time.perf_counter() - began

    def finish(self, output: Path | None) -> list[Path]:
        """Gather what is left and, on rank 0, write the files into ``output`` (collective).

        Phases timed after the last stopping check (the final checkpoint) are
        booked on the last iteration. Returns the paths written (rank 0).
        """
        late = {name: seconds for name, seconds in self._phase.items() if seconds}
        if late and self._rows:
            last = self._rows[-1]
            for name, seconds in late.items():
                last[:, INDEX[f"{name}_s" if name in PHASES else "other_s"]] += seconds
                last[:, INDEX["wall_s"]] += seconds
        self._gather()
        written: list[Path] = []
        if self.comm.rank != 0 or output is None or not self._table:
            return written
        resumed = self._state is not None and self._first_iteration > 1
        written.append(write_profile(Path(output) / PROFILE_FILE, np.concatenate(self._table), self._metadata(),
                                     append_before=self._first_iteration if resumed else None))
        if self._trace_all is not None:
            written.append(write_trace(Path(output) / TRACE_FILE, self._trace_all, self._threads,
                                       self.trace_iteration or 0, self._metadata()))
        return written

    def rows(self) -> np.ndarray:
        """Rank 0: every row gathered so far (float64[n, WIDTH]); empty elsewhere."""
        return np.concatenate(self._table) if self._table else np.empty((0, WIDTH))

    # -- windows ----------------------------------------------------------------------
    def _open_window(self, start: float, stats: np.ndarray) -> None:
        self._window_start = start
        self._stats_mark = stats
        self._phase: dict[str, float] = {}
        self._busy_kinds = [[0.0] * self._threads for _ in BUSY_KINDS]
        self._wait = [0.0] * self._threads
        self._own = 0.0
        if self._iteration == self.trace_iteration:
            self._spans = []
            self.pool.spans = []

    def _close_window(self, end: float) -> None:
        began = time.perf_counter()
        stats = self._stats_now()
        rows = np.zeros((self._threads, WIDTH))
        column = INDEX
        rows[:, column["iteration"]] = self._iteration
        rows[:, column["rank"]] = self.comm.rank
        rows[:, column["thread"]] = np.arange(self._threads)
        rows[:, column["ranks"]] = self.comm.size
        rows[:, column["threads"]] = self._threads
        wall = end - self._window_start
        rows[:, column["wall_s"]] = wall
        known = 0.0
        for phase in PHASES:
            seconds = self._phase.get(phase, 0.0)
            rows[:, column[f"{phase}_s"]] = seconds
            known += seconds
        rows[:, column["profiler_s"]] = self._own
        rows[:, column["other_s"]] = wall - known - self._own
        busy = np.array(self._busy_kinds)
        for k, kind in enumerate(BUSY_KINDS):
            rows[:, column[f"busy_{kind}_s"]] = busy[k]
        rows[:, column["busy_s"]] = busy.sum(axis=0)
        cpu = list(self.pool.busy_cpu)
        rows[:, column["busy_cpu_s"]] = np.subtract(cpu, self._cpu_mark)
        self._cpu_mark = cpu
        rows[:, column["wait_s"]] = self._wait
        width = self._width_now()
        for name, now, before in zip(_WIDTH_COLUMNS, width, self._width_mark, strict=True):
            rows[:, column[name]] = now - before
        self._width_mark = width
        rows[:, _STAT_SLICE] = stats - self._stats_mark
        self._memory(rows)
        self._rows.append(rows)
        if self._spans is not None:
            self._trace_local = self._trace_array(end)
            self._spans = None
            self.pool.spans = None
        self._iteration += 1
        self._open_window(end, stats)
        self._own += time.perf_counter() - began  # booked on the next window

    def _width_now(self) -> tuple[float, float, float]:
        """The pool's cumulative task time shared by width (see :mod:`caudal.profiling.pool`)."""
        return self.pool.tasks_even, self.pool.tasks_even_doubled, self.pool.tasks_narrow

    def _stats_now(self) -> np.ndarray:
        """Every workspace's cumulative solver counters, float64[threads, 10]."""
        snapshots = [ws.stats for ws in self.pool.workspaces]
        return np.array([[getattr(s, name) for name in _STAT_FIELDS] for s in snapshots], dtype=np.float64)

    def _memory(self, rows: np.ndarray) -> None:
        assert self._state is not None
        cache = self._state.cache
        rows[:, INDEX["rss_bytes"]] = memory.rss_bytes()
        rows[:, INDEX["cache_bytes"]] = memory.cache_bytes(cache)
        rows[:, INDEX["cache_shared_bytes"]] = memory.shared_cache_bytes(cache, self.comm.node_rank)
        rows[:, INDEX["workspace_bytes"]] = memory.workspace_bytes(self.pool.workspaces)

    def _gather(self) -> None:
        """Collective: rank 0 keeps every rank's closed rows (and the trace's spans, once)."""
        local = np.concatenate(self._rows) if self._rows else np.empty((0, WIDTH))
        self._rows = []
        gathered = self.comm.allgather_rows(local)
        if self.comm.rank == 0 and gathered.shape[0]:
            self._table.append(gathered)
        if self._trace_local is not None:  # the same iteration on every rank
            spans = self.comm.allgather_rows(self._trace_local)
            self._trace_local = None
            if self.comm.rank == 0:
                self._trace_all = spans

    # -- the trace ----------------------------------------------------------------------
    def _trace_array(self, end: float) -> np.ndarray:
        """This rank's spans of the traced iteration: float64[n, TRACE_WIDTH] (see :mod:`.trace`)."""
        assert self._state is not None and self._spans is not None and self.pool.spans is not None
        rank, origin = self.comm.rank, self._perf_origin
        last_stage = self._state.problem.n_stages - 1
        rows = [(rank, ITERATION, -1, self._window_start - origin, end - origin, -1, -1)]
        phases = sorted(self._spans, key=lambda span: span[1])
        phase_stage = []
        backward_seen = 0
        for name, start, stop in phases:
            stage = -1
            if name == "backward":
                stage = last_stage - backward_seen
                backward_seen += 1
            elif name == "bound":
                stage = 0
            phase_stage.append(stage)
            rows.append((rank, PHASE, -1, start - origin, stop - origin, _code(name), stage))
        starts = [start for _, start, _ in phases]
        counts: dict[tuple[int, int], int] = {}
        for worker, start, stop in sorted(self.pool.spans, key=lambda span: span[1]):
            j = bisect_right(starts, start) - 1
            name = phases[j][0] if j >= 0 else "other"
            stage = phase_stage[j] if j >= 0 else -1
            if stage < 0:  # forward passes and simulations: one task per stage, in stage order
                stage = counts.get((worker, j), 0)
                counts[(worker, j)] = stage + 1
            rows.append((rank, TASK, worker, start - origin, stop - origin, _code(name), stage))
        return np.array(rows, dtype=np.float64).reshape(-1, TRACE_WIDTH)

    def _metadata(self) -> dict[str, str]:
        import socket

        data = {
            "caudal_version": __version__,
            "hostname_rank0": socket.gethostname(),
            "ranks": str(self.comm.size),
            "threads": str(self._threads),
            "solver": str(getattr(self.pool, "solver_name", "")),
        }
        if self._state is not None:
            problem = self._state.problem
            data.update(case=problem.name, stages=str(problem.n_stages), states=str(problem.n_states))
        if self.options is not None:
            data.update(forward_passes=str(self.options.forward_passes), seed=str(self.options.seed))
        return data


def _code(name: str) -> int:
    return TRACE_NAMES.index(name) if name in TRACE_NAMES else TRACE_NAMES.index("other")
