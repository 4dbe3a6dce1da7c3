"""Which variant each free group trains next: the sweep's bookkeeping, with no MPI in it.

Groups ask for work when they are free; the scheduler hands out variants in
order. An attempt ends in one of the :class:`Outcome` values:

* ``DONE``: trained to its iteration limit or a stopping rule;
* ``TIMED_OUT``: stopped by its time limit (``time_limit`` is a budget per
  attempt), so not finished;
* ``FAILED``: an exception on some rank of the group;
* ``LOST``: the group's ranks could not agree on how the attempt ended (one
  failed while the others stayed blocked in a collective); the group is out of
  the sweep for good;
* ``INTERRUPTED``: SIGTERM/SIGUSR1 stopped it after a checkpoint; the sweep
  hands out no more work and ends with status 75.

A variant that timed out, failed or was lost is tried once more (``max_attempts``
is 2), before any variant that has not started, and preferably on another group
than the one it failed on: a retry on the same node would often meet the same
trouble. A retry continues from the variant's newest checkpoint, so a timed-out
variant gets a second budget rather than a fresh start.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum


class Outcome(IntEnum):
    DONE = 0
    TIMED_OUT = 1
    FAILED = 2
    LOST = 3
    INTERRUPTED = 4


STATUS = {
    Outcome.DONE: "done",
    Outcome.TIMED_OUT: "timed_out",
    Outcome.FAILED: "failed",
    Outcome.LOST: "failed",
    Outcome.INTERRUPTED: "interrupted",
}
"""A variant's status in the results table, from its last attempt; ``not_run`` if it never started."""


@dataclass
class Attempt:
    """How one attempt at a variant ended, as its group's leader reports it."""

    variant: int
    attempt: int
    group: int
    outcome: Outcome
    iterations: int = 0
    bound: float = float("nan")
    simulated: float = float("nan")
    seconds: float = 0.0
    lp_solves: int = 0
    error: str = ""


class Scheduler:
    """The queue of variants, the groups at work, and every attempt's outcome."""

    def __init__(self, n_variants: int, n_groups: int, max_attempts: int = 2) -> None:
        self.queue: deque[int] = deque(range(n_variants))
        self.attempts = [0] * n_variants
        self.history: list[list[Attempt]] = [[] for _ in range(n_variants)]
        self.running: dict[int, tuple[int, int]] = {}  # group -> (variant, attempt)
        self.live = set(range(n_groups))
        self.lost: set[int] = set()  # groups out of the sweep, whose ranks may be blocked for good
        self.failed_on: dict[int, int] = {}  # variant -> the group its last attempt failed on
        self.max_attempts = max_attempts
        self.draining = False  # a signal asked the sweep to stop: no new work

    def assign(self, group: int) -> tuple[int, int] | None:
        """The (variant, attempt) for ``group`` to train now, or ``None`` if there is none for it now."""
        if self.draining or group not in self.live or group in self.running:
            return None
        for variant in self.queue:
            if self.failed_on.get(variant) != group or self.live == {group}:
                self.queue.remove(variant)
                self.attempts[variant] += 1
                self.running[group] = (variant, self.attempts[variant])
                return variant, self.attempts[variant]
        return None

    def report(self, attempt: Attempt) -> None:
        """Record how an attempt ended; queue a retry if it may have one."""
        if self.running.get(attempt.group) != (attempt.variant, attempt.attempt):
            return  # a late report from a group already declared lost: its attempt was settled then
        del self.running[attempt.group]
        self.history[attempt.variant].append(attempt)
        if attempt.outcome is Outcome.INTERRUPTED:
            self.attempts[attempt.variant] -= 1  # not the variant's fault: it will continue where it stopped
            self.queue.appendleft(attempt.variant)
            self.draining = True
        elif attempt.outcome is not Outcome.DONE and self.attempts[attempt.variant] < self.max_attempts:
            self.failed_on[attempt.variant] = attempt.group
            self.queue.appendleft(attempt.variant)

    def lose(self, group: int, error: str) -> None:
        """``group`` is out of the sweep; its attempt, if any, counts as a failure."""
        if group not in self.live:
            return
        if group in self.running:
            variant, number = self.running[group]
            self.report(Attempt(variant, number, group, Outcome.LOST, error=error))
        self.live.discard(group)
        self.lost.add(group)

    def drain(self) -> None:
        """Hand out no more work (a signal asked the sweep to stop)."""
        self.draining = True

    def finished(self) -> bool:
        """Nothing runs and nothing more will be handed out."""
        if self.running:
            return False
        return self.draining or not self.queue or not self.live

    def status(self, variant: int) -> str:
        history = self.history[variant]
        return STATUS[history[-1].outcome] if history else "not_run"

    def exit_status(self) -> int:
        """0 when every variant is done, else 75 after a signal (continue with --resume), else 1."""
        if all(self.status(v) == "done" for v in range(len(self.history))):
            return 0
        return 75 if self.draining else 1
