"""A trained policy's cut pools from the newest usable checkpoint, holding the cuts once at the peak.

Decoding a whole checkpoint directory and then copying it into pools holds
every cut twice (4 GB for a national-size policy). Here a checkpoint directory
is opened with its stage files unread and each file is verified and copied
straight into its pool (:func:`~caudal.checkpoint.restore.restore_pools` of a
:class:`~caudal.checkpoint.stage_files.DeferredCheckpoint`), as a resume does.
A single-file checkpoint is still read whole.

A stage file that does not verify is only found while the pools are being
filled, after the search for the newest checkpoint has picked it. So the
filling happens inside that search: a damaged checkpoint is skipped with a
warning naming the file, and the previous one is used, exactly as when every
file was verified up front. A checkpoint that verifies but is of another case
is not skipped: the caller says it does not fit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from caudal.checkpoint.contents import Checkpoint
from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.restore import restore_pools
from caudal.checkpoint.store import load_latest
from caudal.model.problem import CompiledProblem
from caudal.sddp.cuts import CutPool


@dataclass
class LoadedPolicy:
    """What :func:`load_newest_policy` found: the checkpoint, the problem its cuts belong to, and the pools."""

    checkpoint: Checkpoint
    problem: CompiledProblem
    pools: list[CutPool]
    warnings: list[str] = field(default_factory=list)


class _StopSearch(Exception):
    """Carries an error that must reach the caller rather than skip a checkpoint (``load_latest`` skips
    only :class:`CheckpointError`)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def load_newest_policy(
    directory: str | os.PathLike, problem_for: Callable[[Checkpoint], CompiledProblem]
) -> LoadedPolicy:
    """The pools of the newest checkpoint in ``directory`` whose files all verify, for ``problem_for(it)``.

    ``problem_for`` builds the problem the cuts belong to (from the case the
    checkpoint names, or a problem the caller already has); whatever it
    raises, and the :class:`CheckpointError` of kind ``fingerprint`` of a
    checkpoint of another case, is raised as is. Raises a ``missing``
    :class:`CheckpointError` when no checkpoint verifies, naming every file
    skipped and why.
    """
    found: list[tuple[CompiledProblem, list[CutPool]]] = []

    def fill(checkpoint: Checkpoint) -> None:
        try:
            problem = problem_for(checkpoint)
        except Exception as error:
            raise _StopSearch(error) from error
        try:
            found.append((problem, restore_pools(checkpoint, problem)))
        except CheckpointError as error:
            if error.kind == "fingerprint":
                raise _StopSearch(error) from error
            raise CheckpointError(error.path, f"{error.problem} (checkpoint {checkpoint.path} is damaged)",
                                  error.kind) from error

    try:
        checkpoint, warnings = load_latest(directory, fill, defer_stages=True)
    except _StopSearch as stop:
        raise stop.error from None
    if checkpoint is None:
        detail = "; ".join(warnings)
        raise CheckpointError(Path(directory), f"holds no valid checkpoint ({detail})", "missing")
    problem, pools = found[-1]
    return LoadedPolicy(checkpoint, problem, pools, warnings)
