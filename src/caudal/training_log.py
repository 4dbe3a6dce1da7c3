"""The training log: one line per iteration a planner can read at a glance.

Short runs print every iteration. Long runs print the first iterations, then
one line per ``interval`` seconds, and always the last; a progress bar on the
terminal (when there is one) shows the rest.

Every line goes through Python's :mod:`logging`, logger ``"caudal"`` at level
INFO, so a program that embeds caudal can route it like any other log. The
terminal shows the bare lines (a handler this module adds for the length of a
training); ``--log-file`` adds a file handler with timestamps and levels (see
:mod:`caudal.log_destination`).

The columns name the bound by the problem's sense: a minimisation's bound is
a lower bound (it rises), a maximisation's an upper bound (it falls).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import TextIO

from caudal.sddp.records import MIN_INTERVAL_SAMPLES, IterationRecord

LOGGER = logging.getLogger("caudal")


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 rank``, ``2 ranks``: a count with its noun in the right number."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def bound_name(maximize: bool) -> str:
    """What the policy's bound is: ``"upper bound"`` when maximising, ``"lower bound"`` when minimising."""
    return "upper bound" if maximize else "lower bound"


def header(maximize: bool = False) -> str:
    return (
        f"{'iter':>6}  {bound_name(maximize):>15}  {'simulated mean':>15}  {'95% CI +-':>12}  {'gap':>8}"
        f"  {'time':>9}  {'LP solves':>10}"
    )


HEADER = header()
LEGEND = (
    "simulated mean: of the forward passes' costs; 95% CI +-: its half-width (normal); gap: |simulated - bound| "
    f"/ the larger; CI and gap given from {MIN_INTERVAL_SAMPLES} forward passes; time: training s, cumulative"
)


def format_number(value: float) -> str:
    return f"{value:15.6e}" if abs(value) >= 1e9 else f"{value:15.4f}"


def has_interval(record: IterationRecord) -> bool:
    """Whether the iteration had forward passes enough for a confidence interval (and so a gap worth showing)."""
    return not (math.isnan(record.upper_bound_low) or math.isnan(record.upper_bound_high))


def format_half_width(record: IterationRecord) -> str:
    """The interval's half-width, or ``-`` when the iteration had too few forward passes for one."""
    if not has_interval(record):
        return f"{'-':>12}"
    half = (record.upper_bound_high - record.upper_bound_low) / 2
    return f"{half:12.6e}" if abs(half) >= 1e9 else f"{half:12.4f}"


def format_gap(record: IterationRecord) -> str:
    """The gap in percent, or ``-`` with too few forward passes: the mean of a handful of costs is mostly noise.

    (With 2 forward passes a problem whose bound is already the optimum can
    show 100%, when both sampled scenarios happen to cost nothing.)
    """
    return f"{100 * record.gap:7.2f}%" if has_interval(record) else f"{'-':>8}"


def format_record(record: IterationRecord) -> str:
    return (
        f"{record.iteration:6d}  {format_number(record.lower_bound)}  {format_number(record.upper_bound_mean)}"
        f"  {format_half_width(record)}  {format_gap(record)}  {record.time_s:8.2f}s  {record.lp_solves:10d}"
    )


class TerminalHandler(logging.Handler):
    """Writes the bare lines to a stream, through the progress bar's console while the bar runs."""

    def __init__(self, stream: TextIO):
        super().__init__(logging.INFO)
        self.stream = stream
        self.console = None  # a rich console while the progress bar is on screen

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = record.getMessage()
            if self.console is not None:
                self.console.print(line, highlight=False, soft_wrap=True)
            else:
                self.stream.write(line + "\n")
                self.stream.flush()
        except Exception:  # noqa: BLE001 (logging's convention: a failing handler never breaks the run)
            self.handleError(record)


class TrainingLog:
    """Logs the iteration lines of one training; call it with each record.

    ``stream``: where the terminal lines go (default stdout); ``terminal=False``
    sends the lines to the ``caudal`` logger only (``--quiet``, or the Python
    API's ``log=False``), where a ``--log-file`` handler may still take them.
    """

    def __init__(
        self,
        total_iterations: int,
        stream: TextIO | None = None,
        every_first: int = 10,
        interval: float = 1.0,
        progress: bool | None = None,
        maximize: bool = False,
        terminal: bool = True,
    ):
        self.total = total_iterations
        self.every_first = every_first
        self.interval = interval
        self.maximize = maximize
        self._last_print = -float("inf")
        self._pending: IterationRecord | None = None
        if LOGGER.level == logging.NOTSET:
            LOGGER.setLevel(logging.INFO)  # a program that set its own level keeps it
        _remove_terminal_handlers()  # one a training that failed left behind
        self._handler = None
        self._progress = None
        if terminal:
            stream = stream if stream is not None else sys.stdout
            self._handler = TerminalHandler(stream)
            LOGGER.addHandler(self._handler)
            if progress is None:
                progress = stream.isatty() and total_iterations > every_first
            if progress:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

                self._progress = Progress(
                    "training", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
                )
                self._task = self._progress.add_task("training", total=total_iterations)

    def header(self, lines: list[str]) -> None:
        for line in [*lines, LEGEND, header(self.maximize)]:
            LOGGER.info(line)
        if self._progress is not None:
            self._progress.start()
            self._handler.console = self._progress.console

    def note(self, lines: list[str]) -> None:
        """Lines outside the iteration table (resume, warnings)."""
        for line in lines:
            LOGGER.info(line)

    def __call__(self, record: IterationRecord) -> None:
        now = time.perf_counter()
        if self._progress is not None:
            self._progress.update(self._task, completed=record.iteration)
        if record.iteration <= self.every_first or now - self._last_print >= self.interval:
            LOGGER.info(format_record(record))
            self._last_print = now
            self._pending = None
        else:
            self._pending = record

    def close(self, footer: list[str]) -> None:
        """Log the last iteration if it was held back, then the footer; the terminal handler goes."""
        if self._pending is not None:
            LOGGER.info(format_record(self._pending))
        if self._progress is not None:
            self._progress.stop()
            self._handler.console = None
        for line in footer:
            LOGGER.info(line)
        self.detach()

    def detach(self) -> None:
        """Stop writing to the terminal (idempotent; also after a failed training)."""
        if self._progress is not None:
            self._progress.stop()
        if self._handler is not None:
            LOGGER.removeHandler(self._handler)
            self._handler = None


def _remove_terminal_handlers() -> None:
    for handler in list(LOGGER.handlers):
        if isinstance(handler, TerminalHandler):
            LOGGER.removeHandler(handler)
