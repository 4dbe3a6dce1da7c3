"""Checkpoints of a running training, and resuming one.

Every rank holds the same pools, bases and history. A checkpoint small enough
for one file is written by the leader rank (rank 0) alone; a large one becomes
a checkpoint directory whose stage files every rank writes its share of
(``caudal.checkpoint.directory``). ``CAUDAL_CHECKPOINT_LAYOUT`` = ``file``,
``directory`` or ``auto`` (the default: by size) overrides the choice. Rank 0
decides when a checkpoint is due and tells the others, so that they enter a
collective write together. A resume reads the newest checkpoint that verifies
on every rank (falling back past damaged ones, and saying so) and rebuilds the
training state from it.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np

from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.files import CHECKPOINT_FOLDER, NAME_PATTERN, list_impostors
from caudal.checkpoint.restore import restore_state
from caudal.checkpoint.schedule import CheckpointSchedule
from caudal.checkpoint.store import load_latest, read_checkpoint, write_checkpoint
from caudal.model.problem import CompiledProblem
from caudal.parallel.comm import Communicator
from caudal.sddp.training import TrainingOptions, TrainingState

LAYOUT_VARIABLE = "CAUDAL_CHECKPOINT_LAYOUT"
_LAYOUTS = {"file": False, "directory": True, "auto": None}


def layout_choice() -> bool | None:
    """``as_directory`` for :func:`write_checkpoint` from ``CAUDAL_CHECKPOINT_LAYOUT`` (None: by size)."""
    value = os.environ.get(LAYOUT_VARIABLE, "auto").strip().lower() or "auto"
    if value not in _LAYOUTS:
        raise ValueError(f"{LAYOUT_VARIABLE}={value!r}: expected one of {', '.join(_LAYOUTS)}")
    return _LAYOUTS[value]


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
        self.threads = threads
        self.as_directory = layout_choice()
        self.layout = {"ranks": comm.size, "threads": threads, "hostname": socket.gethostname()}
        self.last_written: Path | None = None
        self.seconds = 0.0
        if comm.rank == 0 and self.directory.is_dir():
            self.refuse_impostors()

    def refuse_impostors(self) -> None:
        """Refuse, before any training, a FIFO, socket or dangling link under a checkpoint name.

        Writing or pruning would meet it after the iterations that led to the
        checkpoint were done; a reader would block on a FIFO.
        """
        impostors = list_impostors(self.directory)
        if impostors:
            path, what = impostors[0]
            raise CheckpointError(path, f"is {what}, where a checkpoint would be written: remove it", "missing")

    def __call__(self, state: TrainingState) -> None:
        due = np.array([self.schedule.due(state.iteration, time.monotonic())], dtype=np.int64)
        if self.comm.size > 1:  # on rank 0's clock: a directory is written by every rank together
            self.comm.bcast_into(due)
        if due[0]:
            self.write(state)

    def write(self, state: TrainingState) -> None:
        """Write now unless this iteration is already on disk; call on every rank."""
        if state.iteration == self.schedule.last_iteration or state.iteration == 0:
            return
        started = time.perf_counter()
        path = write_checkpoint(self.directory, state, self.options, keep=self.keep, layout=self.layout,
                                as_directory=self.as_directory, comm=self.comm, threads=self.threads)
        if self.comm.rank == 0:
            self.last_written = path
        self.schedule.written(state.iteration, time.monotonic())
        self.seconds += time.perf_counter() - started


def resume_state(
    directory: str | os.PathLike, problem: CompiledProblem, options: TrainingOptions, comm: Communicator
) -> tuple[TrainingState, Path, list[str]]:
    """The training state of the newest usable checkpoint in ``directory`` (or of the file ``directory``).

    Returns it with the file it came from and the warnings about newer files
    skipped: damaged ones, and valid ones of another case or of options that
    change the policy (another seed), which an older checkpoint of this run
    must not be blocked by. Raises :class:`CheckpointError` when none is usable,
    naming the files and why. Given a file, resumes from that file or says
    why it cannot (a checkpoint directory, named like a checkpoint, counts as one file).
    """
    path = Path(directory)
    if path.is_file() or (path.is_dir() and NAME_PATTERN.match(path.name)):
        return restore_state(read_checkpoint(path, defer_stages=True), problem, options, comm), path, []
    folder = checkpoint_directory(directory)
    restored: list[TrainingState] = []
    checkpoint, warnings = load_latest(folder, lambda c: restored.append(restore_state(c, problem, options, comm)),
                                       defer_stages=True)
    if checkpoint is None:
        detail = f" ({'; '.join(warnings)})" if warnings else ""
        raise CheckpointError(folder, f"no valid checkpoint to resume from{detail}", "missing")
    return restored[-1], checkpoint.path, warnings
