"""Stopping cleanly on the signals a batch system sends before it kills a job.

slurm sends SIGTERM at the walltime (and, with ``--signal=B:USR1@120``, SIGUSR1
some time before it); preemption sends SIGTERM. While a :class:`StopSignals`
block is active those signals only raise a flag: the training finishes its
current iteration, every rank agrees to stop, a checkpoint is written and the
process exits with :data:`EXIT_SIGNALLED`.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

EXIT_SIGNALLED = 75
"""Exit status after a signal-requested stop with a checkpoint written (EX_TEMPFAIL: try again)."""

CAUGHT = (signal.SIGTERM, signal.SIGUSR1)


class StopSignals:
    """Turns SIGTERM and SIGUSR1 into a flag for the duration of a ``with`` block."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def requested(self) -> bool:
        return self.received is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in CAUGHT:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
