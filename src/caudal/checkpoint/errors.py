"""The one error the checkpoint layer raises, naming the file and the problem.

A resume that meets a damaged or foreign file must say which file and what is
wrong with it (and fall back to an older checkpoint), never crash with a
decoding traceback nor load it silently. Every failure mode therefore ends up as
a :class:`CheckpointError` with a ``kind`` a caller can branch on.
"""

from __future__ import annotations

import os
from pathlib import Path

KINDS = (
    "missing",  # the file does not exist or cannot be read
    "truncated",  # shorter than its header says
    "trailing",  # longer than its header says
    "magic",  # not a caudal checkpoint at all
    "header",  # the header's own checksum does not match
    "version",  # a format version this caudal cannot read
    "checksum",  # the payload does not match its checksum
    "payload",  # the payload verifies but does not decode consistently
    "fingerprint",  # a valid checkpoint of another case or incompatible options
    "size",  # too large for one FlatBuffer
    "write",  # could not be written (a rank failed, disk full, ...); nothing was published
)


class CheckpointError(Exception):
    """A checkpoint file cannot be used; ``str(error)`` says which file and why."""

    def __init__(self, path: str | os.PathLike | None, problem: str, kind: str = "payload"):
        if kind not in KINDS:
            raise ValueError(f"unknown checkpoint error kind {kind!r}")
        self.path = Path(path) if path is not None else None
        self.problem = problem
        self.kind = kind
        where = str(self.path) if self.path is not None else "checkpoint"
        super().__init__(f"{where}: {problem}")
