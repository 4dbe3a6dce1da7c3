"""When to write a checkpoint: every N iterations and/or every S seconds.

Iteration counts suit reproducible tests; seconds suit clusters, where what
matters is how much work a walltime kill or a node failure may cost. With both
set, whichever comes first triggers a write. The defaults (every 10 iterations
or 10 minutes) keep the cost of writing far below the cost of iterating on
cases like brazil4 (see ``benchmarks/checkpoint_io.py``), while losing at most
ten minutes of a run.

Usage in a training loop::

    schedule = CheckpointSchedule(every_iterations=10, every_seconds=600)
    ...
    now = time.monotonic()
    if schedule.due(state.iteration, now):
        write_checkpoint(directory, state, options)
        schedule.written(state.iteration, time.monotonic())
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

DEFAULT_EVERY_ITERATIONS = 10
DEFAULT_EVERY_SECONDS = 600.0
DEFAULT_KEEP = 3
"""How many checkpoints a run keeps (older ones are deleted once a newer one is written)."""


@dataclass
class CheckpointSchedule:
    """Decides whether a checkpoint is due after an iteration; ``None`` turns a criterion off."""

    every_iterations: int | None = DEFAULT_EVERY_ITERATIONS
    every_seconds: float | None = DEFAULT_EVERY_SECONDS
    started: float = field(default_factory=time.monotonic)  # the clock of ``every_seconds``
    last_iteration: int | None = None  # the iteration of the last checkpoint written

    def __post_init__(self) -> None:
        if self.every_iterations is not None and self.every_iterations < 1:
            raise ValueError(f"every_iterations must be at least 1, got {self.every_iterations}")
        if self.every_seconds is not None and not (self.every_seconds > 0 and math.isfinite(self.every_seconds)):
            raise ValueError(f"every_seconds must be positive and finite, got {self.every_seconds}")
        self._last_time = self.started

    def due(self, iteration: int, now: float) -> bool:
        """Is a checkpoint due after ``iteration`` completed iterations, at monotonic time ``now``?"""
        if iteration < 1 or iteration == self.last_iteration:
            return False
        if self.every_iterations is not None and iteration % self.every_iterations == 0:
            return True
        return self.every_seconds is not None and now - self._last_time >= self.every_seconds

    def written(self, iteration: int, now: float) -> None:
        """Record that the checkpoint of ``iteration`` was written at ``now``; the clock restarts."""
        self.last_iteration = iteration
        self._last_time = now
