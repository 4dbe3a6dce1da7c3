"""Stopping cleanly on the signals a batch system sends before it kills a job, and on Ctrl-C.

slurm sends SIGTERM at the walltime (and, with ``--signal=B:USR1@120``, SIGUSR1
some time before it); preemption sends SIGTERM. While a :class:`StopSignals`
block is active those signals only raise a flag, which the training asks
between blocks of passes (:mod:`caudal.sddp.interruptible`): every rank agrees
to stop within seconds, the unfinished iteration is dropped, a checkpoint of
the last complete one is written and the process exits with
:data:`EXIT_SIGNALLED`.

With ``keyboard=True`` (the command line), SIGINT is treated the same way: the
first Ctrl-C says at once that the run is stopping with a checkpoint (exit
status 130); a second one stops at once, keeping the checkpoints already
written. Under ``mpiexec`` every rank receives the Ctrl-C (MPICH sends it to
the process group, Open MPI's ``mpiexec`` forwards it to the ranks), so every
rank agrees to stop, instead of one rank dying of a ``KeyboardInterrupt`` and
taking the job down as a failure.

Blocks nest. An outer block made with ``hand_down=True`` (the command line's,
around the loading of the case) hands an inner block (``train()``'s) the
signal it already received, so a SIGTERM during loading is not lost, and its
``keyboard`` and ``announce`` choices. Every inner block hands what it
received back to the outer block when it ends.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

EXIT_SIGNALLED = 75
"""Exit status after a signal-requested stop with a checkpoint written (EX_TEMPFAIL: try again)."""

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), with or without a checkpoint."""

CAUGHT = (signal.SIGTERM, signal.SIGUSR1)

_ACTIVE: list[StopSignals] = []
"""The blocks entered and not yet left, innermost last."""


def exit_status_without_checkpoint(signum: int) -> int:
    """What a run stopped by ``signum`` exits with when it wrote no checkpoint: 128 + the signal, as a shell
    reports a process killed by it, which promises nothing to resume from."""
    return 128 + int(signum)


class StopSignals:
    """Turns SIGTERM and SIGUSR1 (and with ``keyboard``, a first SIGINT) into a flag for a ``with`` block.

    ``announce``: print a line on standard error when a first signal arrives
    (give it to one rank only). ``hand_down``: blocks nested in this one start
    with its signal, ``keyboard`` and ``announce`` (see the module's docstring).
    """

    def __init__(self, keyboard: bool = False, announce: bool = False, hand_down: bool = False) -> None:
        self.received: int | None = None
        self.keyboard = keyboard
        self.announce = announce
        self.hand_down = hand_down
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.received == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        first = self.received is None
        if first or signum == signal.SIGINT:
            self.received = signum
        if first and self.announce:
            again = "; press Ctrl-C again to stop now" if signum == signal.SIGINT else ""
            # os.write, not print: the main thread may be inside a print to stderr when the signal comes
            os.write(2, f"caudal: {signal.Signals(signum).name} received: stopping, with a checkpoint of the "
                        f"last complete iteration when the run writes them{again}\n".encode())

    def requested(self) -> bool:
        return self.received is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    def __enter__(self) -> StopSignals:
        outer = _ACTIVE[-1] if _ACTIVE else None
        if outer is not None and outer.hand_down:
            self.received = self.received or outer.received
            self.keyboard = self.keyboard or outer.keyboard
            self.announce = self.announce or outer.announce
        if threading.current_thread() is threading.main_thread():
            caught = CAUGHT + ((signal.SIGINT,) if self.keyboard else ())
            for signum in caught:
                self._previous[signum] = signal.signal(signum, self._handle)
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        if _ACTIVE and _ACTIVE[-1] is self:
            _ACTIVE.pop()
        if _ACTIVE and self.received is not None and not _ACTIVE[-1].received:
            _ACTIVE[-1].received = self.received
