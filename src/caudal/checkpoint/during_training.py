"""Checkpoints of a running training, and resuming one.

The leader rank (rank 0) writes; every rank holds the same pools, bases and
history, so one writer is enough. A resume reads the newest checkpoint that
verifies on every rank (falling back past damaged ones, and saying so) and
rebuilds the training state from it.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.restore import restore_state
from caudal.checkpoint.schedule import CheckpointSchedule
from caudal.checkpoint.store import latest_valid, read_checkpoint, write_checkpoint
from caudal.model.problem import CompiledProblem
from caudal.parallel.comm import Communicator
from caudal.sddp.training import TrainingOptions, TrainingState

CHECKPOINT_FOLDER = "checkpoints"
"""Where checkpoints go inside a run's output directory."""


def checkpoint_directory(path: str | os.PathLike) -> Path:
    """The checkpoint folder a user means by ``path``: a run directory or the folder itself."""
    path = Path(path)
    inside = path / CHECKPOINT_FOLDER
    return inside if inside.is_dir() or not any(path.glob("checkpoint-*.caudal")) else path


class TrainingCheckpoints:
    """An iteration callback that writes checkpoints on schedule (on rank 0 only)."""

    def __init__(
        self,
        directory: Path,
        options: TrainingOptions,
        schedule: CheckpointSchedule,
        keep: int,
        comm: Communicator,
        threads: int,
    ):
        self.directory = Path(directory)
        self.options = options
        self.schedule = schedule
        self.keep = keep
        self.comm = comm
        self.layout = {"ranks": comm.size, "threads": threads, "hostname": socket.gethostname()}
        self.last_written: Path | None = None
        self.seconds = 0.0

    def __call__(self, state: TrainingState) -> None:
        if self.schedule.due(state.iteration, time.monotonic()):
            self.write(state)

    def write(self, state: TrainingState) -> None:
        """Write now (leader only) unless this iteration is already on disk."""
        if self.comm.rank != 0 or state.iteration == self.schedule.last_iteration or state.iteration == 0:
            return
        started = time.perf_counter()
        self.last_written = write_checkpoint(self.directory, state, self.options, keep=self.keep, layout=self.layout)
        self.schedule.written(state.iteration, time.monotonic())
        self.seconds += time.perf_counter() - started


def resume_state(
    directory: str | os.PathLike, problem: CompiledProblem, options: TrainingOptions, comm: Communicator
) -> tuple[TrainingState, Path, list[str]]:
    """The training state of the newest valid checkpoint in ``directory``.

    Returns it with the file it came from and the warnings about newer files
    that did not verify. Raises :class:`CheckpointError` when there is none, or
    when it belongs to another case or to incompatible options.
    """
    folder = checkpoint_directory(directory)
    path, warnings = latest_valid(folder)
    if path is None:
        detail = f" ({'; '.join(warnings)})" if warnings else ""
        raise CheckpointError(folder, f"no valid checkpoint to resume from{detail}", "missing")
    state = restore_state(read_checkpoint(path), problem, options, comm)
    return state, path, warnings
