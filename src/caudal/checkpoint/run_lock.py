"""One run per folder: an advisory lock file that names its owner.

Two trainings writing into the same ``--output`` (or ``--checkpoint-dir``)
would prune each other's temporary files and overwrite each other's
checkpoints and summary. So the run that owns a folder keeps a file
``caudal.lock`` in it, holding the host, PID and start time of its process,
and a second run is refused with a message naming that owner.

A lock outlives a process killed by SIGKILL or a node crash. Such a *stale*
lock is recognised when it was written on this host and its process is gone
(or the PID now belongs to a process that started later): it is taken over,
with no human in the loop. A lock written on another host cannot be checked
from here and is never taken over; the message says which file to delete once
that run is known to be over.

Acquiring also proves the folder writable before any training is done: an
unwritable folder fails here, naming the path, not at the first checkpoint.

Taking over a stale lock is serialised with ``flock`` on the folder itself, so
two runs that find the same stale lock cannot both take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caudal.parallel.comm import Communicator

LOCK_NAME = "caudal.lock"


class RunFolderLocked(RuntimeError):
    """Another run owns the folder (``str(error)`` names the folder and the owner)."""

    def __init__(self, folder: Path, owner: str):
        self.folder = folder
        self.owner = owner
        super().__init__(
            f"{folder}: in use by another caudal run ({owner}); wait for it to end, or choose another folder "
            f"(if that run is over, delete {folder / LOCK_NAME})"
        )


class RunFolderUnusable(OSError):
    """The run folder cannot be created or written (``str(error)`` names it and says why)."""


@dataclass(frozen=True)
class Owner:
    """Who holds a lock: what the lock file says."""

    host: str
    pid: int
    started: float  # the owner's process start time (seconds since the epoch), 0 when unknown

    def text(self) -> str:
        return f"host {self.host}\npid {self.pid}\nstarted {self.started!r}\n"

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started)) if self.started else "unknown time"
        return f"PID {self.pid} on {self.host}, started {when}"

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
        try:
            return cls(fields["host"], int(fields["pid"]), float(fields.get("started", "0")))
        except (KeyError, ValueError):
            return None

    @classmethod
    def this_process(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), process_start_time(os.getpid()) or time.time())


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None when it does not exist or cannot be told."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            fields = stream.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as stream:
            boot = next(float(line.split()[1]) for line in stream if line.startswith(b"btime "))
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def is_alive(owner: Owner) -> bool:
    """Whether the process that wrote ``owner`` still runs (asked only of locks of this host)."""
    if owner.pid <= 0:  # a garbled lock file; and kill(-1, 0) would ask about every process
        return False
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        pass
    started = process_start_time(owner.pid)
    # a PID reused by a process that started after the lock was written is not the owner
    return started is None or not owner.started or started <= owner.started + 2.0


class RunLock:
    """The lock of one folder, held by this process; :meth:`release` gives it back."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.owner = Owner.this_process()
        self.held = False

    def acquire(self) -> RunLock:
        """Take the lock, creating the folder if needed; raise :class:`RunFolderLocked` or ``OSError``."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _named(error, self.folder, "cannot create the run folder") from error
        with _serialised(self.folder):
            current = self._read()
            if current is not None and current != self.owner:
                if current.host != socket.gethostname() or is_alive(current):
                    raise RunFolderLocked(self.folder, current.describe())
                self.path.unlink(missing_ok=True)  # stale: its process is gone
            self._write()
        self.held = True
        return self

    def release(self) -> None:
        """Delete the lock file if it is still this process's."""
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(OSError), _serialised(self.folder):
            if self._read() == self.owner:
                self.path.unlink()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()

    def _read(self) -> Owner | None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _named(error, self.path, "cannot read the run lock") from error
        owner = Owner.parse(text)
        # an unreadable lock file (cut short by a crash) counts as a stale lock of this host
        return owner if owner is not None else Owner(socket.gethostname(), -1, 0.0)

    def _write(self) -> None:
        temporary = self.folder / f".{LOCK_NAME}.{os.getpid()}"
        try:
            with open(temporary, "w", encoding="utf-8") as stream:
                stream.write(self.owner.text())
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise _named(error, self.folder, "cannot write into the run folder") from error


@contextlib.contextmanager
def _serialised(folder: Path) -> Iterator[None]:
    """Hold ``flock`` on the folder, so reading and replacing the lock file is one step."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # also releases the flock


@contextlib.contextmanager
def run_folders_locked(folders: Sequence[str | os.PathLike]) -> Iterator[list[RunLock]]:
    """Lock every distinct folder of ``folders`` for the duration of the block."""
    distinct = sorted({Path(f).resolve() for f in folders})
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(RunLock(folder)) for folder in distinct]


@contextlib.contextmanager
def run_folders_locked_by_leader(folders: Sequence[str | os.PathLike], comm: Communicator) -> Iterator[None]:
    """Rank 0 locks ``folders`` for the block; every rank raises if it could not.

    Collective: the ranks agree on the outcome, so that a refused run ends on
    every rank of a group (which may go on to another task, as in a sweep)
    instead of leaving the others waiting in their next collective.
    """
    failure: Exception | None = None
    with contextlib.ExitStack() as stack:
        if comm.rank == 0:
            try:
                stack.enter_context(run_folders_locked(folders))
            except (RunFolderLocked, OSError) as error:
                failure = error
        if comm.size > 1:
            failed = comm.allreduce_sum(np.array([failure is not None], dtype=np.int64))[0] > 0
            if failed and failure is None:
                raise RunFolderLocked(Path(folders[0]), "see rank 0's message")
        if failure is not None:
            raise failure
        yield


def _named(error: OSError, path: Path, what: str) -> RunFolderUnusable:
    """``error`` again, with a message that names ``path`` (``[Errno 28]`` alone does not say where)."""
    named = RunFolderUnusable(f"{path}: {what}: {error.strerror or error}")
    named.errno = error.errno
    return named
