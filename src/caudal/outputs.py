"""Files a training writes into its output directory."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from caudal.sddp.records import HISTORY_COLUMNS, IterationRecord

CONVERGENCE_COLUMNS = HISTORY_COLUMNS
"""A minimisation's ``convergence.csv`` columns (:func:`sense_columns` gives a maximisation's)."""


def sense_columns(maximize: bool) -> tuple[str, ...]:
    """The history's columns named by the problem's sense.

    Minimising, the bound is a ``lower_bound`` and the simulated cost (its
    mean and 95% interval) estimates an upper bound: ``upper_bound_mean``,
    ``upper_bound_low``, ``upper_bound_high``. Maximising, the words swap:
    ``upper_bound``, ``lower_bound_mean``, ``lower_bound_low``, ``lower_bound_high``.
    """
    if not maximize:
        return CONVERGENCE_COLUMNS
    swapped = {"lower_bound": "upper_bound", "upper_bound_mean": "lower_bound_mean",
               "upper_bound_low": "lower_bound_low", "upper_bound_high": "lower_bound_high"}
    return tuple(swapped.get(name, name) for name in CONVERGENCE_COLUMNS)


def write_convergence(path: Path, history: Sequence[IterationRecord], maximize: bool = False) -> None:
    """``convergence.csv``: one row per iteration (1-based), columns named by the sense.

    ``time_s`` is the training time at the end of the iteration, cumulative
    over resumes; the interval columns are ``nan`` for iterations with fewer
    than 30 forward passes (see :data:`caudal.sddp.records.MIN_INTERVAL_SAMPLES`).
    """
    with _atomic(path) as handle:
        import csv  # here: only a run that writes a table needs it

        writer = csv.writer(handle)
        writer.writerow(sense_columns(maximize))
        for record in history:
            writer.writerow(
                [record.iteration]
                + [repr(getattr(record, name)) for name in CONVERGENCE_COLUMNS[1:-1]]
                + [record.lp_solves]
            )


def write_summary(path: Path, summary: dict) -> None:
    """``summary.json``: the final figures of the run; a figure that does not exist (NaN) is ``null``."""
    summary = {key: None if isinstance(value, float) and math.isnan(value) else value for key, value in summary.items()}
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
