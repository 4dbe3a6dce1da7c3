"""Run a sweep: split the world into groups, schedule the variants, collect the results.

Three layouts, chosen from the job:

* **one process** (no MPI launcher): one group of one rank, the scheduler
  called directly;
* **scheduler thread** (MPI with ``MPI_THREAD_MULTIPLE``, the default of
  mpi4py and of MPICH, Open MPI and Intel MPI builds): world rank 0 trains in
  its group like every other rank, and a thread of it runs the scheduler;
* **scheduler rank** (an MPI library that offers less thread support, such as
  Cray MPICH unless ``MPICH_MAX_THREAD_SAFETY=multiple``): world rank 0 only
  schedules, and the groups are made of ranks 1 to N-1.

The world is split into groups of ``ranks_per_variant`` consecutive ranks
(with srun's default block distribution, a group stays on one node when the
node's rank count is a multiple of it).
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caudal.api import default_threads
from caudal.parallel.comm import world as world_communicator
from caudal.parallel.signals import StopSignals
from caudal.sweep.control import GroupLink, RemoteDispatcher, SchedulerServer
from caudal.sweep.grid import Variant
from caudal.sweep.progress import SweepLog
from caudal.sweep.results import RESULTS_FILE, print_summary, rows, write_parquet
from caudal.sweep.scheduler import Scheduler
from caudal.sweep.variant_settings import Study
from caudal.sweep.worker import GroupWork, LocalDispatcher, SoloLink, work

SCHEDULER_MODES = ("auto", "thread", "rank")


class SweepError(ValueError):
    """A sweep that cannot be laid out on this job (ranks, groups, scheduler)."""


@dataclass
class SweepRun:
    """Everything ``caudal sweep`` was asked to do."""

    study: Study
    variants: Sequence[Variant]
    params: Sequence[str]  # the grid's parameter names, for the summary's columns
    output: Path
    ranks_per_variant: int = 1
    threads: int | None = None
    resume: bool = False
    grace: float = 120.0
    quiet: bool = False
    log_file: Path | None = None
    scheduler: str = "auto"


def run_sweep(run: SweepRun) -> int:
    """Train every variant; returns the exit status (0 all done, 1 some not, 75 stopped by a signal)."""
    world = world_communicator()
    threads = run.threads if run.threads is not None else default_threads(world)
    if world.size == 1:
        return _one_process(run, world, threads)
    return _mpi(run, world, threads)


def _one_process(run: SweepRun, world, threads: int) -> int:
    if run.ranks_per_variant != 1:
        raise SweepError(f"--ranks-per-variant {run.ranks_per_variant} needs an MPI job of at least that many ranks")
    scheduler = Scheduler(len(run.variants), 1)
    log = SweepLog(run.variants, run.quiet, run.log_file)
    log.line(f"caudal sweep: {len(run.variants)} variants, 1 group of 1 rank x {threads} threads; "
             f"results in {run.output}")
    work(GroupWork(run.variants, run.study, run.output, world, 0, SoloLink(), LocalDispatcher(scheduler, log),
                   threads, run.resume))
    return conclude(run, scheduler, log)


def _mpi(run: SweepRun, world, threads: int) -> int:
    from mpi4py import MPI

    mode = _scheduler_mode(run.scheduler, MPI.Query_thread() == MPI.THREAD_MULTIPLE)
    first = 0 if mode == "thread" else 1  # the first rank that trains
    size = run.ranks_per_variant
    workers = world.size - first
    if workers < size or workers % size:
        raise SweepError(
            f"{workers} training rank{'s' if workers != 1 else ''} cannot be split into groups of {size}"
            + (" (rank 0 only schedules)" if first else "")
        )
    n_groups = workers // size
    group_index = (world.rank - first) // size if world.rank >= first else n_groups
    group = world.split(group_index)
    control = world.world.Dup()
    group_control = group.world.Dup()
    group_of_rank = {rank: (rank - first) // size for rank in range(first, world.size)}
    job = GroupWork(run.variants, run.study, run.output, group, group_index, GroupLink(group_control, run.grace),
                    RemoteDispatcher(control), threads, run.resume)
    status = np.zeros(1, dtype=np.int64)
    if world.rank == 0:
        scheduler = Scheduler(len(run.variants), n_groups)
        log = SweepLog(run.variants, run.quiet, run.log_file)
        log.line(
            f"caudal sweep: {len(run.variants)} variants, {n_groups} group{'s' if n_groups > 1 else ''} of {size} "
            f"rank{'s' if size > 1 else ''} x {threads} threads; scheduler on rank 0 "
            f"({'a thread beside its training' if first == 0 else 'alone'}); results in {run.output}"
        )
        server = SchedulerServer(control, scheduler, group_of_rank, log.start, log.end, log.line)
        if first == 1:
            with StopSignals() as signals:
                server.interrupted = signals.requested
                _serve(server, run, scheduler, log, status)
        else:
            thread = threading.Thread(target=_serve, args=(server, run, scheduler, log, status),
                                      name="caudal-sweep-scheduler", daemon=True)
            thread.start()
            work(job)
            thread.join()
    else:
        work(job)
    control.Bcast(status, root=0)  # every rank exits with the sweep's status
    return int(status[0])


def _scheduler_mode(asked: str, thread_multiple: bool) -> str:
    if asked not in SCHEDULER_MODES:
        raise SweepError(f"--scheduler must be one of {', '.join(SCHEDULER_MODES)}, got {asked!r}")
    if asked == "thread" and not thread_multiple:
        raise SweepError("--scheduler thread needs an MPI library with MPI_THREAD_MULTIPLE")
    if asked == "auto":
        return "thread" if thread_multiple else "rank"
    return asked


def _serve(server: SchedulerServer, run: SweepRun, scheduler: Scheduler, log: SweepLog, status: np.ndarray) -> None:
    """Schedule until the sweep is over, then write the results; any error here ends the job."""
    from mpi4py import MPI

    try:
        server.serve()
        status[0] = conclude(run, scheduler, log)
    except BaseException:
        traceback.print_exc()
        print("caudal sweep: the scheduler failed; ending the job", file=sys.stderr, flush=True)
        MPI.COMM_WORLD.Abort(1)
    if scheduler.lost:
        # Ranks of a lost group may be blocked in a collective forever: only ending the job frees them.
        print(f"caudal sweep: ending the job to free the ranks of lost group(s) {sorted(scheduler.lost)}",
              file=sys.stderr, flush=True)
        MPI.COMM_WORLD.Abort(max(int(status[0]), 1))


def conclude(run: SweepRun, scheduler: Scheduler, log: SweepLog) -> int:
    """Write ``sweep.parquet``, print the summary; the sweep's exit status."""
    from rich.console import Console

    table = rows(run.variants, scheduler, run.output)
    path = run.output / RESULTS_FILE
    write_parquet(table, path)
    print_summary(table, run.params)
    if log.file is not None:
        print_summary(table, run.params, Console(file=log.file, width=160, color_system=None))
    counts: dict[str, int] = {}
    for row in table:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    status = scheduler.exit_status()
    log.line(f"wrote {path}: " + ", ".join(f"{n} {name}" for name, n in counts.items())
             + ("; continue with --resume" if status == 75 else ""))
    log.close()
    return status
