"""The figures of ``caudal profile``, computed from the columns of a ``profile.parquet``.

Pure functions of the table, so they are tested without a training and the
scaling sweep reuses them. Conventions: a *worker* is one thread of one rank;
rank-level columns are read from thread 0's rows; per-iteration figures are
means over the iterations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from caudal.profiling.columns import BUSY_KINDS, PHASES

REPORTED_PHASES = (*PHASES, "profiler", "other")
LP_TIMES = ("load_s", "patch_s", "basis_s", "solve_s", "extract_s")


@dataclass
class PhaseLine:
    """One phase: seconds per iteration (mean, least and most over ranks) and share of the wall time."""

    name: str
    mean: float
    least: float
    most: float
    share: float


@dataclass
class WorkerLine:
    """One worker's totals over the iterations, in seconds."""

    rank: int
    thread: int
    wall: float
    busy: float
    wait: float
    busy_by_kind: dict[str, float]
    solves: int
    simplex_iterations: int

    @property
    def outside(self) -> float:
        """Time its rank spent outside the pool phases (communication, cache, bookkeeping)."""
        return max(self.wall - self.busy - self.wait, 0.0)


@dataclass
class ThreadHeadroom:
    """The most that twice the threads per rank could gain on this run's work.

    Each pool run's tasks are shared evenly among the threads its items can
    keep busy (an item is never split: one forward pass is one item whatever
    the pool's size), and everything else (serial work between runs, idle
    threads, communication) takes as long as it did. Real runs fall short of
    it: threads wait at a run's end, and each thread is slower when all are
    busy. ``narrow_share`` says why it is low: the share of the task time in
    runs with fewer items than twice the threads.
    """

    seconds_per_iteration: float  # the slowest rank's, mean over the iterations
    speedup: float  # now over that
    narrow_share: float


@dataclass
class ProfileSummary:
    """Everything the report prints."""

    iterations: int
    ranks: int
    threads: int
    seconds_per_iteration: float  # the slowest rank's, mean over iterations
    phases: list[PhaseLine]
    workers: list[WorkerLine]
    load_imbalance: float  # max / mean of the workers' busy time
    backward_imbalance: float  # the same, backward tasks only
    communication_share: float
    communication_wait: float  # s/iter: mean minus least over ranks of communication time
    lp_share: float  # load + patch + basis + solve + extract, over the workers' wall time
    highs_share: float  # inside Highs_run only
    wait_share: float  # workers idle inside pool phases, over their wall time
    cpu_share: float  # the workers' CPU time in their tasks over their wall time in them (1: never waited for a core)
    task_cpu_per_iteration: float  # CPU seconds of all workers' tasks per iteration: the work, whatever the layout
    profiler_share: float
    solves_per_iteration: float
    simplex_per_lp: float  # HiGHS's iterations and the kernels' pivots, per LP solved or answered from a kept basis
    ranged_per_iteration: float  # backward openings answered from a kept basis, without a solve
    doubled_threads: ThreadHeadroom | None  # None: a profile written before its columns existed
    memory: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def workers_count(self) -> int:
        return self.ranks * self.threads


def summarize(columns: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> ProfileSummary:
    """The summary of a profile table (columns as read by :func:`~caudal.profiling.table.read_profile`)."""
    if columns["iteration"].size == 0:
        raise ValueError("the profile holds no iteration")
    columns = {**columns, **{key: columns[key].astype(np.int64) for key in ("iteration", "rank", "thread")}}
    iterations = np.unique(columns["iteration"])
    ranks = int(columns["ranks"].max())
    threads = int(columns["threads"].max())
    lead = columns["thread"] == 0
    rank_of = columns["rank"][lead]

    def per_rank(name: str) -> np.ndarray:
        """Seconds per iteration of a rank-level column, one value per rank."""
        values = np.bincount(rank_of, weights=columns[name][lead], minlength=ranks)
        return values / iterations.size

    wall = per_rank("wall_s")
    slowest = _per_iteration_max(columns["iteration"][lead], columns["wall_s"][lead])
    phases = []
    for phase in REPORTED_PHASES:
        seconds = per_rank(f"{phase}_s")
        phases.append(PhaseLine(phase, float(seconds.mean()), float(seconds.min()), float(seconds.max()),
                                float(seconds.mean() / wall.mean()) if wall.mean() > 0 else 0.0))
    workers = _workers(columns)
    busy = np.array([w.busy for w in workers])
    backward = np.array([w.busy_by_kind["backward"] for w in workers])
    worker_wall = columns["wall_s"].sum()
    communication = per_rank("communication_s")
    solves = columns["solves"].sum()
    lps = solves + columns["ranged"].sum()
    last = columns["iteration"] == iterations[-1]
    return ProfileSummary(
        iterations=int(iterations.size),
        ranks=ranks,
        threads=threads,
        seconds_per_iteration=float(slowest.mean()),
        phases=phases,
        workers=workers,
        load_imbalance=_imbalance(busy),
        backward_imbalance=_imbalance(backward),
        communication_share=float(communication.mean() / wall.mean()) if wall.mean() > 0 else 0.0,
        communication_wait=float(communication.mean() - communication.min()),
        lp_share=float(sum(columns[name].sum() for name in LP_TIMES) / worker_wall) if worker_wall > 0 else 0.0,
        highs_share=float(columns["solve_s"].sum() / worker_wall) if worker_wall > 0 else 0.0,
        wait_share=float(columns["wait_s"].sum() / worker_wall) if worker_wall > 0 else 0.0,
        cpu_share=float(columns["busy_cpu_s"].sum() / busy.sum()) if busy.sum() > 0 else 1.0,
        task_cpu_per_iteration=float(columns["busy_cpu_s"].sum() / iterations.size),
        profiler_share=float(per_rank("profiler_s").mean() / wall.mean()) if wall.mean() > 0 else 0.0,
        solves_per_iteration=float(solves / iterations.size),
        simplex_per_lp=float(columns["simplex_iterations"].sum() / lps) if lps else 0.0,
        ranged_per_iteration=float(columns["ranged"].sum() / iterations.size),
        doubled_threads=_doubled_threads(columns, lead),
        memory={
            "rss_max_bytes": float(columns["rss_bytes"][last].max()),
            "rss_total_bytes": float(columns["rss_bytes"][last & lead].sum()),
            "cache_bytes": float(columns["cache_bytes"][last].max()),
            "cache_shared_bytes": float(columns["cache_shared_bytes"][last & lead].sum()),
            "workspace_bytes": float(columns["workspace_bytes"][last].sum()),
        },
        metadata=dict(metadata or {}),
    )


def phase_seconds_by_iteration(columns: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Iterations, and each reported phase's seconds per iteration (mean over ranks)."""
    lead = columns["thread"] == 0
    iteration = columns["iteration"][lead]
    iterations, position = np.unique(iteration, return_inverse=True)
    ranks = np.bincount(position)
    phases = {
        phase: np.bincount(position, weights=columns[f"{phase}_s"][lead]) / ranks for phase in REPORTED_PHASES
    }
    return iterations, phases


def _workers(columns: dict[str, np.ndarray]) -> list[WorkerLine]:
    keys = sorted(set(zip(columns["rank"].tolist(), columns["thread"].tolist(), strict=True)))
    lines = []
    for rank, thread in keys:
        mine = (columns["rank"] == rank) & (columns["thread"] == thread)
        lines.append(WorkerLine(
            rank=rank,
            thread=thread,
            wall=float(columns["wall_s"][mine].sum()),
            busy=float(columns["busy_s"][mine].sum()),
            wait=float(columns["wait_s"][mine].sum()),
            busy_by_kind={kind: float(columns[f"busy_{kind}_s"][mine].sum()) for kind in BUSY_KINDS},
            solves=int(columns["solves"][mine].sum()),
            simplex_iterations=int(columns["simplex_iterations"][mine].sum()),
        ))
    return lines


def _doubled_threads(columns: dict[str, np.ndarray], lead: np.ndarray) -> ThreadHeadroom | None:
    """:class:`ThreadHeadroom` over the iterations that recorded it (those of older profiles did not)."""
    even = columns["tasks_even_s"][lead]
    recorded = even > 0
    if not recorded.any():
        return None
    iteration = columns["iteration"][lead][recorded]
    now = columns["wall_s"][lead][recorded]
    doubled = now - even[recorded] + columns["tasks_even_doubled_s"][lead][recorded]
    slowest_now = _per_iteration_max(iteration, now).mean()
    slowest_doubled = _per_iteration_max(iteration, doubled).mean()
    busy = columns["busy_s"][np.isin(columns["iteration"], iteration)].sum()
    narrow = columns["tasks_narrow_s"][lead][recorded].sum()
    return ThreadHeadroom(
        seconds_per_iteration=float(slowest_doubled),
        speedup=float(slowest_now / slowest_doubled) if slowest_doubled > 0 else 1.0,
        narrow_share=float(narrow / busy) if busy > 0 else 0.0,
    )


def _per_iteration_max(iteration: np.ndarray, values: np.ndarray) -> np.ndarray:
    iterations, position = np.unique(iteration, return_inverse=True)
    out = np.full(iterations.size, -np.inf)
    np.maximum.at(out, position, values)
    return out


def _imbalance(values: np.ndarray) -> float:
    """max / mean: 1 is perfect balance; 2 means the busiest worker did twice the average."""
    return float(values.max() / values.mean()) if values.size and values.mean() > 0 else 1.0
