"""The sweep's progress lines: one when a variant starts, one when an attempt ends.

Printed by world rank 0 only (where the scheduler runs), on the terminal unless
``--quiet``, and into ``--log-file`` when one is given. Each variant's own
training log goes to ``train.log`` in its folder, so these lines stay few.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from caudal.sweep.grid import Variant
from caudal.sweep.scheduler import Attempt, Outcome


class SweepLog:
    """Writes progress lines to the terminal and/or a log file; safe to call from the scheduler thread."""

    def __init__(self, variants: Sequence[Variant], quiet: bool = False, log_file: Path | None = None) -> None:
        self.variants = variants
        self.streams: list[TextIO] = [] if quiet else [sys.stdout]
        self.file = open(log_file, "a", encoding="utf-8", buffering=1) if log_file is not None else None  # noqa: SIM115
        if self.file is not None:
            self.streams.append(self.file)
        self.started = time.perf_counter()
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        stamp = f"{time.perf_counter() - self.started:8.1f}s  "
        with self._lock:
            for stream in self.streams:
                print(stamp + text, file=stream, flush=True)

    def _name(self, index: int) -> str:
        return f"[{index + 1:>{len(str(len(self.variants)))}}/{len(self.variants)}] {self.variants[index].label}"

    def start(self, variant: int, attempt: int, group: int) -> None:
        again = f", attempt {attempt}" if attempt > 1 else ""
        self.line(f"{self._name(variant)}: started on group {group}{again}")

    def end(self, attempt: Attempt, retry: bool) -> None:
        then = "; will retry" if retry else ""
        where = f"group {attempt.group}, attempt {attempt.attempt}"
        if attempt.outcome in (Outcome.FAILED, Outcome.LOST):
            what = "group lost" if attempt.outcome is Outcome.LOST else "failed"
            self.line(f"{self._name(attempt.variant)}: {what} ({where}): {attempt.error}{then}")
            return
        what = {Outcome.DONE: "done", Outcome.TIMED_OUT: "time limit reached",
                Outcome.INTERRUPTED: "interrupted after a checkpoint"}[attempt.outcome]
        self.line(
            f"{self._name(attempt.variant)}: {what} in {attempt.seconds:.2f}s, {attempt.iterations} iterations, "
            f"bound {attempt.bound:.6g} ({where}){then}"
        )

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
