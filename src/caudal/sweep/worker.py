"""The loop every training rank runs: get a variant, train it with the group, report, again.

The group's first rank (its leader) talks to the scheduler through a
*dispatcher*; the others learn the assignment from it. A single-process sweep
uses :class:`LocalDispatcher` and :class:`SoloLink`, which call the scheduler
directly: the same loop with no MPI at all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from caudal.parallel.comm import Communicator
from caudal.parallel.signals import StopSignals
from caudal.sweep.attempt import can_resume, run_attempt, variant_folder
from caudal.sweep.control import Verdict
from caudal.sweep.grid import Variant
from caudal.sweep.progress import SweepLog
from caudal.sweep.scheduler import Attempt, Outcome, Scheduler
from caudal.sweep.variant_settings import Study


class Dispatcher(Protocol):
    def next(self, report: Attempt | None, stopping: bool) -> tuple[int, int] | None:
        """Report the last attempt (if any); the next ``(variant, attempt)``, or ``None`` to stop."""

    def lost(self, error: str) -> None:
        """This rank's group cannot agree any more (multi-rank groups only)."""


class Link(Protocol):
    def share(self, assignment: tuple[int, int, int] | None) -> tuple[int, int, int] | None: ...

    def agree(self, failed: bool) -> Verdict: ...


class LocalDispatcher:
    """The scheduler in the same process: one group, no messages."""

    def __init__(self, scheduler: Scheduler, log: SweepLog) -> None:
        self.scheduler = scheduler
        self.log = log

    def next(self, report: Attempt | None, stopping: bool) -> tuple[int, int] | None:
        if report is not None:
            self.scheduler.report(report)
            self.log.end(report, report.outcome is not Outcome.INTERRUPTED and report.variant in self.scheduler.queue)
        if stopping and not self.scheduler.draining:
            self.scheduler.drain()
            self.log.line("signal received: no new variants")
        given = self.scheduler.assign(0)
        if given is not None:
            self.log.start(given[0], given[1], 0)
        return given

    def lost(self, error: str) -> None:  # a group of one always agrees with itself
        raise AssertionError("a single-process group cannot be lost")


class SoloLink:
    """A group of one rank."""

    def share(self, assignment: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        return assignment

    def agree(self, failed: bool) -> Verdict:
        return Verdict.FAILED if failed else Verdict.OK


@dataclass
class GroupWork:
    """What a rank needs to take part in the sweep."""

    variants: Sequence[Variant]
    study: Study
    output: Path
    group: Communicator
    group_index: int
    link: Link
    dispatcher: Dispatcher | None  # the leader's line to the scheduler (every rank's, under MPI, to report a loss)
    threads: int
    resume: bool  # the sweep continues an earlier one: first attempts may resume too


def work(job: GroupWork) -> None:
    """Train the variants the scheduler hands this group until it says stop."""
    leader = job.group.rank == 0
    report: Attempt | None = None
    with StopSignals() as signals:  # between trainings; train() handles them during one
        while True:
            assignment = None
            if leader:
                given = job.dispatcher.next(report, stopping=signals.requested())
                if given is not None:
                    variant, number = given
                    folder = variant_folder(job.output, job.variants[variant])
                    resume = (number > 1 or job.resume) and can_resume(folder)
                    assignment = (variant, number, int(resume))
            assignment = job.link.share(assignment)
            if assignment is None:
                return
            variant, number, resume = assignment
            attempt = run_attempt(
                job.variants[variant], number, job.study, job.group, job.group_index,
                variant_folder(job.output, job.variants[variant]), job.threads, bool(resume),
            )
            verdict = job.link.agree(attempt.outcome is Outcome.FAILED)
            if verdict is Verdict.LOST:
                job.dispatcher.lost(f"its rank {job.group.rank} failed ({attempt.error}) and the others never answered")
                park()
            if verdict is Verdict.FAILED and attempt.outcome is not Outcome.FAILED:
                attempt = Attempt(variant, number, job.group_index, Outcome.FAILED,
                                  error="another rank of the group failed: see the job's standard error")
            report = attempt


def park() -> None:
    """Wait for the end of the job: this rank's group is lost, and the scheduler will end the job when done."""
    while True:
        time.sleep(1.0)
