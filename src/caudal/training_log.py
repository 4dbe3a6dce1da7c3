"""The training log: one line per iteration a planner can read at a glance.

Short runs print every iteration. Long runs print the first iterations, then
one line per ``interval`` seconds, and always the last; a progress bar on the
terminal (when there is one) shows the rest.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from caudal.sddp.records import IterationRecord

HEADER = f"{'iter':>6}  {'lower bound':>15}  {'simulated':>15}  {'gap':>8}  {'time':>9}  {'LP solves':>10}"


def format_number(value: float) -> str:
    return f"{value:15.6e}" if abs(value) >= 1e9 else f"{value:15.4f}"


def format_record(record: IterationRecord) -> str:
    return (
        f"{record.iteration:6d}  {format_number(record.lower_bound)}  {format_number(record.upper_bound_mean)}"
        f"  {100 * record.gap:7.2f}%  {record.time_s:8.2f}s  {record.lp_solves:10d}"
    )


class TrainingLog:
    """Prints the iteration lines of one training; call it with each record."""

    def __init__(
        self,
        total_iterations: int,
        stream: TextIO | None = None,
        every_first: int = 10,
        interval: float = 1.0,
        progress: bool | None = None,
    ):
        self.stream = stream if stream is not None else sys.stdout
        self.total = total_iterations
        self.every_first = every_first
        self.interval = interval
        self._last_print = -float("inf")
        self._pending: IterationRecord | None = None
        if progress is None:
            progress = self.stream.isatty() and total_iterations > every_first
        self._progress = None
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._progress = Progress(
                "training", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
            )
            self._task = self._progress.add_task("training", total=total_iterations)

    def header(self, lines: list[str]) -> None:
        for line in lines:
            print(line, file=self.stream)
        print(HEADER, file=self.stream)
        self.stream.flush()
        if self._progress is not None:
            self._progress.start()

    def note(self, lines: list[str]) -> None:
        """Lines outside the iteration table (resume, warnings)."""
        for line in lines:
            if self._progress is not None:
                self._progress.console.print(line, highlight=False, soft_wrap=True)
            else:
                print(line, file=self.stream, flush=True)

    def __call__(self, record: IterationRecord) -> None:
        now = time.perf_counter()
        if self._progress is not None:
            self._progress.update(self._task, completed=record.iteration)
        if record.iteration <= self.every_first or now - self._last_print >= self.interval:
            self._print(record)
            self._last_print = now
            self._pending = None
        else:
            self._pending = record

    def _print(self, record: IterationRecord) -> None:
        line = format_record(record)
        if self._progress is not None:
            self._progress.console.print(line, highlight=False, soft_wrap=True)
        else:
            print(line, file=self.stream, flush=True)

    def clear_progress(self) -> None:
        """Take the progress bar off the terminal and show the cursor again; safe to call twice.

        For a training that ends by an exception (a second Ctrl-C), which never
        reaches :meth:`close`: the terminal must not be left without its cursor.
        """
        if self._progress is not None:
            self._progress.stop()

    def close(self, footer: list[str]) -> None:
        """Print the last iteration if it was held back, then the footer."""
        if self._pending is not None:
            self._print(self._pending)
        if self._progress is not None:
            self._progress.stop()
        for line in footer:
            print(line, file=self.stream)
        self.stream.flush()
