"""One run per folder: a second run is refused naming the owner; a dead owner's lock is taken over.

Without the lock, two trainings on one ``--output`` prune each other's
temporary files and overwrite each other's checkpoints and summary.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caudal.checkpoint.run_lock import LOCK_NAME, Owner, RunFolderLocked, RunLock
from caudal.cli import main

HOLDER = """
import sys, time
from caudal.checkpoint.run_lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def hold(folder: Path) -> subprocess.Popen:
    """Another process that owns ``folder``'s lock until killed."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_second_run_is_refused_naming_the_owner(tmp_path):
    child = hold(tmp_path / "run")
    try:
        with pytest.raises(RunFolderLocked) as info:
            RunLock(tmp_path / "run").acquire()
        assert f"PID {child.pid} on {socket.gethostname()}" in str(info.value)
        assert str(tmp_path / "run") in str(info.value)
    finally:
        child.kill()
        child.wait()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    child = hold(tmp_path / "run")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert (tmp_path / "run" / LOCK_NAME).exists()  # SIGKILL left it behind
    with RunLock(tmp_path / "run") as lock:
        assert Owner.parse((tmp_path / "run" / LOCK_NAME).read_text()).pid == os.getpid()
        assert lock.held
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path):
    # the PID of a live process (this one) that started long after the lock was written
    (tmp_path / LOCK_NAME).write_text(Owner(socket.gethostname(), os.getpid(), time.time() - 10 * 86400).text())
    RunLock(tmp_path).acquire().release()


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text(Owner("node-elsewhere", 12345, time.time()).text())
    with pytest.raises(RunFolderLocked, match="PID 12345 on node-elsewhere"):
        RunLock(tmp_path).acquire()


def test_a_garbled_lock_file_is_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_bytes(b"\x00\x01 cut short")
    RunLock(tmp_path).acquire().release()


def test_release_leaves_another_owners_lock_alone(tmp_path):
    lock = RunLock(tmp_path).acquire()
    (tmp_path / LOCK_NAME).write_text(Owner("node-elsewhere", 1, 0.0).text())
    lock.release()
    assert (tmp_path / LOCK_NAME).exists()


def test_an_unwritable_run_folder_is_named_before_any_work(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError, match=str(tmp_path / "file" / "run")):
        RunLock(tmp_path / "file" / "run").acquire()


def test_train_refuses_a_folder_in_use(tmp_path, capsys):
    child = hold(tmp_path / "run")
    try:
        status = main(["train", "brazil4", "--stages", "2", "--iterations", "1", "--output", str(tmp_path / "run")])
    finally:
        child.kill()
        child.wait()
    assert status != 0
    message = capsys.readouterr().err
    assert f"PID {child.pid}" in message and "in use by another caudal run" in message
    assert not (tmp_path / "run" / "summary.json").exists()
