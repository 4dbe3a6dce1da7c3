"""Files a training writes into its output directory."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path

from caudal.sddp.records import HISTORY_COLUMNS, IterationRecord

CONVERGENCE_COLUMNS = HISTORY_COLUMNS


def write_convergence(path: Path, history: Sequence[IterationRecord]) -> None:
    """``convergence.csv``: one row per iteration."""
    with _atomic(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(CONVERGENCE_COLUMNS)
        for record in history:
            writer.writerow(
                [record.iteration]
                + [repr(getattr(record, name)) for name in CONVERGENCE_COLUMNS[1:-1]]
                + [record.lp_solves]
            )


def write_summary(path: Path, summary: dict) -> None:
    """``summary.json``: the final figures of the run."""
    with _atomic(path) as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
        handle.write("\n")


class _atomic:
    """Write a text file through a temporary name, so a reader never sees half of it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.tmp, "w", newline="", encoding="utf-8")
        return self.handle

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.handle.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        except OSError as error:
            exc_type, exc = type(error), error
        if exc_type is None:
            return
        self.tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk says "[Errno 28]" and nothing of where
            named = type(exc)(f"{self.path}: cannot write: {exc.strerror or exc}")
            named.errno = exc.errno
            raise named from exc
