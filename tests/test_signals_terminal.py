"""Ctrl-C on a terminal: the progress bar goes, the cursor comes back, exit status 130.

The run's standard output is a pseudo-terminal, so the log draws rich's
progress bar (and hides the cursor). A first Ctrl-C stops the run within
seconds with a checkpoint; a second one stops it at once. Either way the
terminal is left as it was found: the bar erased, the cursor shown.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HIDE_CURSOR, SHOW_CURSOR, ERASE_LINE = b"\x1b[?25l", b"\x1b[?25h", b"\x1b[2K"
BAR = b"training \x1b["


class TerminalRun:
    """``caudal train`` with its standard output on a pseudo-terminal."""

    def __init__(self, run_dir: Path, case: list[str]):
        master, slave = pty.openpty()
        self.master = master
        self.output = b""
        self.job = subprocess.Popen(
            [sys.executable, "-m", "caudal", "train", *case, "--threads", "1",
             "--forward-passes", "20", "--iterations", "100000", "--checkpoint-every", "100000",
             "--output", str(run_dir)],
            stdin=slave, stdout=slave, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        os.close(slave)
        self.errors: list[str] = []
        threading.Thread(target=lambda: self.errors.extend(self.job.stderr), daemon=True).start()

    def wait_for_error(self, text: str, seconds: float = 10) -> None:
        end = time.monotonic() + seconds
        while not any(text in line for line in self.errors) and time.monotonic() < end:
            self.read(0.02)

    def read(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([self.master], [], [], 0.05)[0]:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the other end closed
                    return
                if not chunk:
                    return
                self.output += chunk

    def wait_for(self, pattern: re.Pattern[bytes], seconds: float = 60) -> None:
        end = time.monotonic() + seconds
        while not pattern.search(self.output) and time.monotonic() < end:
            self.read(0.1)
        if not pattern.search(self.output):
            self.job.kill()
            raise AssertionError(self.output[-500:])

    def finish(self, seconds: float = 10) -> float:
        """Seconds until the process ended (reading its terminal meanwhile)."""
        started = time.monotonic()
        while self.job.poll() is None and time.monotonic() - started < seconds:
            self.read(0.1)
        if self.job.poll() is None:
            self.job.kill()
        took = time.monotonic() - started
        self.read(0.3)
        os.close(self.master)
        time.sleep(0.2)  # the reader thread gets standard error's last lines
        return took


def assert_terminal_restored(output: bytes) -> None:
    assert HIDE_CURSOR in output and BAR in output, "the progress bar was drawn"
    assert output.rfind(SHOW_CURSOR) > output.rfind(HIDE_CURSOR), "the cursor is shown again"
    assert output.rfind(ERASE_LINE) > output.rfind(BAR), "the last bar drawn was erased"


ITERATION_2 = re.compile(rb"\x1b\[2K +2 {2,}\d")
"""The log's row of iteration 2, printed as it ends. Not the bar's count: the bar is drawn ten times a
second, so a count that lasts less than that (iteration 3 of brazil4 at 3 stages takes about 70 ms) may
never be drawn."""


def test_ctrl_c_on_a_terminal_clears_the_bar_checkpoints_and_exits_130(tmp_path):
    run = TerminalRun(tmp_path / "run", ["brazil4", "--stages", "3"])
    run.wait_for(ITERATION_2)
    run.read(0.3)  # inside iteration 3
    run.job.send_signal(signal.SIGINT)
    took = run.finish()
    stderr = "".join(run.errors)
    assert run.job.returncode == 130 and took < 5, (took, stderr)
    assert_terminal_restored(run.output)
    assert b"status: interrupted (SIGINT received)" in run.output
    assert list((tmp_path / "run" / "checkpoints").glob("checkpoint-*.caudal"))


SLOW_CHECKPOINT = '''
import time
import caudal.checkpoint.during_training as during
from caudal.examples import brazil4

real = during.write_checkpoint


def slow(*args, **kwargs):
    time.sleep(30)  # the second Ctrl-C comes during this checkpoint write
    return real(*args, **kwargs)


def build_problem():
    during.write_checkpoint = slow
    return brazil4(stages=3)
'''


def test_a_second_ctrl_c_stops_at_once_and_still_restores_the_terminal(tmp_path):
    case = tmp_path / "slow_checkpoint.py"
    case.write_text(SLOW_CHECKPOINT)
    run = TerminalRun(tmp_path / "run", [str(case)])
    run.wait_for(ITERATION_2)
    run.job.send_signal(signal.SIGINT)
    run.wait_for_error("SIGINT received")
    run.read(0.5)  # into the slow checkpoint write
    run.job.send_signal(signal.SIGINT)
    took = run.finish()
    stderr = "".join(run.errors)
    assert run.job.returncode == 130 and took < 5, (took, stderr)
    assert "caudal: interrupted" in stderr and "Traceback" not in stderr, stderr
    assert_terminal_restored(run.output)
