"""Where a command's log goes: the terminal, a file, both, or (``--quiet``) neither.

``--log-file FILE`` keeps the whole log of a run whatever the terminal shows:
a :class:`logging.FileHandler` on the ``caudal`` logger, appending one line
per record (``tail -f`` follows it), each with its UTC time stamp and level,
and first the command line that started the run. ``--quiet`` leaves the
terminal with the final summary only; the terminal keeps its table and
progress bar whether or not a file is written. Under MPI only world rank 0
logs, so only it opens the file.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

LOGGER = logging.getLogger("caudal")
FILE_FORMAT = "%(asctime)s %(levelname)s %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def add_log_options(parser: argparse.ArgumentParser, quiet: bool = True) -> None:
    """``--log-file FILE`` (and ``--quiet``, unless the command defines it already)."""
    if quiet:
        parser.add_argument("--quiet", "-q", action="store_true", help="print only the final summary")
    parser.add_argument("--log-file", type=Path, default=None, metavar="FILE",
                        help="also append the log to FILE, with time stamps and levels (with --quiet: only there)")


class RunLogFile(logging.FileHandler):
    """The ``--log-file`` handler: UTC time stamps, levels, the message."""

    def __init__(self, path: Path):
        super().__init__(path, mode="a", encoding="utf-8")
        formatter = logging.Formatter(FILE_FORMAT, DATE_FORMAT)
        formatter.converter = time.gmtime
        self.setFormatter(formatter)


def attach_log_file(path: Path, command: Sequence[str] | None = None) -> RunLogFile:
    """Send the ``caudal`` logger to ``path`` (replacing an earlier run's file) and log the command line."""
    for handler in list(LOGGER.handlers):
        if isinstance(handler, RunLogFile):
            LOGGER.removeHandler(handler)
            handler.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RunLogFile(path)
    LOGGER.addHandler(handler)
    if LOGGER.level == logging.NOTSET:
        LOGGER.setLevel(logging.INFO)
    words = list(sys.argv) if command is None else list(command)
    if words:
        words[0] = Path(words[0]).name  # ".../bin/caudal" reads as "caudal"
    LOGGER.info("command line: %s", shlex.join(words))
    return handler


def log_destination(quiet: bool, log_file: Path | None, rank: int = 0) -> bool:
    """What ``caudal.train(log=...)`` takes: whether the terminal shows the log.

    With ``log_file`` (rank 0 only), the log also goes to that file, which
    stays open until the process ends or the next run's file replaces it.
    """
    if log_file is not None and rank == 0:
        attach_log_file(log_file)
    return not quiet


def show_case_warnings_as_log_lines(rank: int) -> None:
    """Show case warnings as the command line's other warnings are shown: ``caudal: warning: ...``, rank 0 alone.

    Python's default display names the line of caudal that warned, which
    tells a planner nothing, and under ``mpiexec`` every rank loads the case,
    so every rank would print the same warning. A case warning is a warning
    class with ``one_log_line`` set (the Cobre reader's ``CaseWarning``),
    recognised without importing the reader and its Parquet library into
    commands that read no case. Other warnings keep the default display.
    """
    previous = warnings.showwarning
    if getattr(previous, "shows_case_warnings", False):
        return  # already installed (main() called again in one process)

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 (warnings' signature)
        if not getattr(category, "one_log_line", False):
            return previous(message, category, filename, lineno, file, line)
        if rank == 0:
            os.write(2, f"caudal: warning: {message}\n".encode())  # one whole line, whatever the other ranks print
        return None

    show.shows_case_warnings = True  # type: ignore[attr-defined]
    warnings.showwarning = show
