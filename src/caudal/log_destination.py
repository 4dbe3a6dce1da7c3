"""Where a command's log goes: the terminal, a file, both, or (``--quiet``) neither.

``--log-file FILE`` keeps the whole log of a run (appended, one line at a time,
so ``tail -f`` follows it) whatever the terminal shows; ``--quiet`` leaves the
terminal with the final summary only. Under MPI only world rank 0 logs, so only
it opens the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO


def add_log_options(parser: argparse.ArgumentParser, quiet: bool = True) -> None:
    """``--log-file FILE`` (and ``--quiet``, unless the command defines it already)."""
    if quiet:
        parser.add_argument("--quiet", "-q", action="store_true", help="print only the final summary")
    parser.add_argument("--log-file", type=Path, default=None, metavar="FILE",
                        help="also append the log to FILE (with --quiet: only there)")


class Tee:
    """A text stream that writes to several streams (the terminal and a log file)."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False  # no progress bar: it would land in the file too


def log_destination(quiet: bool, log_file: Path | None, rank: int = 0) -> bool | TextIO:
    """What ``caudal.train(log=...)`` takes: ``True`` (terminal), ``False`` (nowhere) or a stream.

    The file stays open until the process ends (it is line-buffered, so
    nothing is lost if the run is killed).
    """
    if log_file is None or rank != 0:
        return not quiet
    log_file.parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_file, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (lives as long as the run)
    return stream if quiet else Tee(sys.stdout, stream)
