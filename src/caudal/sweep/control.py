"""The sweep's control plane: who trains what, and how a group agrees on how it went.

Three conversations, each on a communicator of its own (duplicated from the
training's, so a control message can never match a training collective):

* **group leader <-> scheduler** (world rank 0): a leader sends one fixed-size
  record (how its last attempt ended, or "ready", or "stopping" after a signal)
  and gets one back (the next variant, or "stop"). The scheduler answers a free
  group at once when there is work, else holds its request until a variant is
  queued again or the sweep is over. Point-to-point on a numpy record: no
  pickles, no name server, nothing to start besides the MPI job.
* **leader -> its group**: the assignment, by ``Ibcast``.
* **the group's agreement** after each attempt: ``Iallreduce`` of "I failed".
  A rank that failed waits at most ``grace`` seconds for the others: if one
  rank raised while the others were inside a training collective, they will
  never arrive, and the group is declared lost (its ranks stay blocked until
  the sweep ends the job).

Every wait polls (``Test`` then a short sleep) rather than blocking in MPI,
which would spin a core per waiting rank in most MPI libraries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from enum import IntEnum

import numpy as np

from caudal.sweep.scheduler import Attempt, Outcome, Scheduler

POLL_SECONDS = 0.005
TAG_REQUEST = 7101
TAG_REPLY = 7102
ERROR_BYTES = 440


class Kind(IntEnum):
    READY = 0  # leader: give me work (and here is how my last attempt ended, if variant >= 0)
    STOPPING = 1  # leader: as READY, but a signal arrived here: hand out no more work
    LOST = 2  # any rank: my group cannot agree any more; it is out of the sweep
    ASSIGN = 10  # scheduler: train this variant, this attempt
    STOP = 11  # scheduler: the sweep is over for you


MESSAGE = np.dtype(
    [
        ("kind", "<i8"),
        ("variant", "<i8"),
        ("attempt", "<i8"),
        ("outcome", "<i8"),
        ("iterations", "<i8"),
        ("lp_solves", "<i8"),
        ("bound", "<f8"),
        ("simulated", "<f8"),
        ("seconds", "<f8"),
        ("error", f"S{ERROR_BYTES}"),
    ]
)


class Verdict(IntEnum):
    OK = 0
    FAILED = 1
    LOST = 2


def message(kind: Kind, attempt: Attempt | None = None, variant: int = -1, number: int = 0,
            error: str = "") -> np.ndarray:
    record = np.zeros(1, dtype=MESSAGE)
    record["kind"] = kind
    record["variant"] = variant
    record["attempt"] = number
    if attempt is not None:
        record["variant"] = attempt.variant
        record["attempt"] = attempt.attempt
        record["outcome"] = attempt.outcome
        record["iterations"] = attempt.iterations
        record["lp_solves"] = attempt.lp_solves
        record["bound"] = attempt.bound
        record["simulated"] = attempt.simulated
        record["seconds"] = attempt.seconds
        error = attempt.error
    record["error"] = error.encode("utf-8")[:ERROR_BYTES]
    return record


def attempt_of(record: np.ndarray, group: int) -> Attempt | None:
    """The attempt a leader's record reports, if it reports one."""
    if int(record["variant"][0]) < 0:
        return None
    return Attempt(
        variant=int(record["variant"][0]),
        attempt=int(record["attempt"][0]),
        group=group,
        outcome=Outcome(int(record["outcome"][0])),
        iterations=int(record["iterations"][0]),
        bound=float(record["bound"][0]),
        simulated=float(record["simulated"][0]),
        seconds=float(record["seconds"][0]),
        lp_solves=int(record["lp_solves"][0]),
        error=bytes(record["error"][0]).decode("utf-8", errors="replace"),
    )


def as_bytes(record: np.ndarray) -> list:
    """An MPI buffer over a record's bytes (a structured dtype has no MPI datatype of its own)."""
    from mpi4py import MPI

    return [record.view(np.uint8), MPI.BYTE]


def wait(request, deadline: float | None = None) -> bool:
    """Poll ``request`` until it completes (True) or ``deadline`` (``time.monotonic()``) passes (False)."""
    while not request.Test():
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


class RemoteDispatcher:
    """A rank's line to the scheduler on world rank 0 (leaders ask for work; any rank may report a lost group)."""

    def __init__(self, comm) -> None:
        self.comm = comm  # an mpi4py communicator over the world, for control messages only

    def next(self, report: Attempt | None, stopping: bool) -> tuple[int, int] | None:
        kind = Kind.STOPPING if stopping else Kind.READY
        wait(self.comm.Isend(as_bytes(message(kind, report)), dest=0, tag=TAG_REQUEST))
        reply = np.zeros(1, dtype=MESSAGE)
        wait(self.comm.Irecv(as_bytes(reply), source=0, tag=TAG_REPLY))
        if int(reply["kind"][0]) == Kind.STOP:
            return None
        return int(reply["variant"][0]), int(reply["attempt"][0])

    def lost(self, error: str) -> None:
        wait(self.comm.Isend(as_bytes(message(Kind.LOST, error=error)), dest=0, tag=TAG_REQUEST))


class GroupLink:
    """The ranks of one group: the leader's assignment to all, and their agreement after each attempt."""

    def __init__(self, comm, grace: float) -> None:
        self.comm = comm  # an mpi4py communicator over the group, for control messages only
        self.grace = grace

    def share(self, assignment: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        """The leader's ``(variant, attempt, resume)`` on every rank; ``None`` means stop."""
        buffer = np.array(assignment if assignment is not None else (-1, 0, 0), dtype=np.int64)
        wait(self.comm.Ibcast(buffer, root=0))
        return None if buffer[0] < 0 else (int(buffer[0]), int(buffer[1]), int(buffer[2]))

    def agree(self, failed: bool) -> Verdict:
        """Whether any rank of the group failed; ``LOST`` if this rank failed and the others never came."""
        from mpi4py import MPI

        if self.comm.Get_size() == 1:
            return Verdict.FAILED if failed else Verdict.OK
        mine = np.array([1 if failed else 0], dtype=np.int64)
        anyone = np.zeros(1, dtype=np.int64)
        request = self.comm.Iallreduce(mine, anyone, op=MPI.MAX)
        if not wait(request, time.monotonic() + self.grace if failed else None):
            return Verdict.LOST
        return Verdict.FAILED if anyone[0] else Verdict.OK


class SchedulerServer:
    """The scheduler's side on world rank 0: receive requests, answer free groups, until the sweep is over."""

    def __init__(
        self,
        comm,
        scheduler: Scheduler,
        group_of_rank: Mapping[int, int],
        on_start: Callable[[int, int, int], None],
        on_end: Callable[[Attempt, bool], None],
        on_note: Callable[[str], None],
        interrupted: Callable[[], bool] = lambda: False,
    ) -> None:
        self.comm = comm
        self.scheduler = scheduler
        self.group_of_rank = group_of_rank
        self.on_start, self.on_end, self.on_note = on_start, on_end, on_note
        self.interrupted = interrupted
        self.waiting: dict[int, int] = {}  # group -> its leader's rank, asked and not yet answered
        self.stopped: set[int] = set()

    def serve(self) -> None:
        from mpi4py import MPI

        status = MPI.Status()
        record = np.zeros(1, dtype=MESSAGE)
        while not (self.scheduler.finished() and self.scheduler.live <= self.stopped):
            if self.interrupted() and not self.scheduler.draining:
                self.scheduler.drain()
                self.on_note("signal received: no new variants; waiting for the running ones to checkpoint")
                self.answer()
            if not self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=TAG_REQUEST, status=status):
                time.sleep(POLL_SECONDS)
                continue
            source = status.Get_source()
            self.comm.Recv(as_bytes(record), source=source, tag=TAG_REQUEST)
            self.handle(record, source)
            self.answer()

    def handle(self, record: np.ndarray, source: int) -> None:
        group = self.group_of_rank[source]
        kind = Kind(int(record["kind"][0]))
        if kind is Kind.LOST:
            error = bytes(record["error"][0]).decode("utf-8", errors="replace")
            running = self.scheduler.running.get(group)
            self.scheduler.lose(group, error)
            if running is not None:
                self.on_end(self.scheduler.history[running[0]][-1], running[0] in self.scheduler.queue)
            self.on_note(f"group {group} is lost: its ranks stay idle until the sweep ends, which then ends the job")
            return
        if group not in self.scheduler.live:
            self.reply(source, Kind.STOP)  # a lost group's leader came back after all: nothing for it
            return
        attempt = attempt_of(record, group)
        if attempt is not None:
            self.scheduler.report(attempt)
            self.on_end(attempt, attempt.outcome is not Outcome.INTERRUPTED and attempt.variant in self.scheduler.queue)
        if kind is Kind.STOPPING and not self.scheduler.draining:
            self.scheduler.drain()
            self.on_note("signal received: no new variants; waiting for the running ones to checkpoint")
        self.waiting[group] = source

    def answer(self) -> None:
        """Give work to the groups waiting for it, or tell them the sweep is over."""
        for group, leader in list(self.waiting.items()):
            given = self.scheduler.assign(group)
            if given is not None:
                del self.waiting[group]
                self.reply(leader, Kind.ASSIGN, *given)
                self.on_start(given[0], given[1], group)
            elif self.scheduler.finished():
                del self.waiting[group]
                self.stopped.add(group)
                self.reply(leader, Kind.STOP)

    def reply(self, rank: int, kind: Kind, variant: int = -1, number: int = 0) -> None:
        wait(self.comm.Isend(as_bytes(message(kind, variant=variant, number=number)), dest=rank, tag=TAG_REPLY))
