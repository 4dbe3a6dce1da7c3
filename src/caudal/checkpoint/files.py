"""Checkpoint files on disk: names, the atomic write, and keeping the last K.

A crash at any moment must leave either the previous set of checkpoints or the
previous set plus a complete new one, never a partial file under a checkpoint
name. So the bytes go to a temporary file in the same directory, which is
flushed and fsynced, then renamed over the final name (atomic on POSIX), and the
directory is fsynced so the rename itself survives a power cut. Older
checkpoints are deleted only after that. Temporary names never match
:data:`NAME_PATTERN`, so a reader cannot mistake one for a checkpoint.

One writer per directory is assumed (the leader rank).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

NAME_PATTERN = re.compile(r"^checkpoint-(\d{8,})\.caudal$")
TEMP_PREFIX = ".checkpoint-"
TEMP_SUFFIX = ".tmp"


def checkpoint_name(iteration: int) -> str:
    """``checkpoint-{iteration:08d}.caudal``: names sort like iterations."""
    if iteration < 0:
        raise ValueError(f"iteration must be non-negative, got {iteration}")
    return f"checkpoint-{iteration:08d}.caudal"


def list_checkpoints(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """(iteration, path) of every file named like a checkpoint, newest first."""
    found = []
    for entry in os.scandir(directory):
        match = NAME_PATTERN.match(entry.name)
        if match and entry.is_file():
            found.append((int(match.group(1)), Path(entry.path)))
    found.sort(key=lambda item: item[0], reverse=True)
    return found


def list_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Unfinished temporary files left by a writer that died mid-write."""
    return sorted(
        Path(entry.path)
        for entry in os.scandir(directory)
        if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX)
    )


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make renames and deletions in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_temporary(directory: Path) -> tuple[int, Path]:
    """A new, exclusive temporary file; unlike ``mkstemp`` it gets the umask's permissions, not 0600."""
    while True:
        path = directory / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), path
        except FileExistsError:
            continue


def atomic_write(path: Path, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
    """Write ``chunks`` to ``path`` so that ``path`` is either absent/old or complete."""
    directory = path.parent
    fd, temp_name = _create_temporary(directory)
    try:
        with os.fdopen(fd, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_directory(directory)


def prune(directory: Path, newest: int, keep: int) -> list[Path]:
    """Delete checkpoints older than ``newest`` beyond the ``keep - 1`` most recent, and stale temporaries.

    Checkpoints *newer* than ``newest`` (left by an earlier run that went
    further) are never touched: they may be all that is left of that run. Call
    only once checkpoint ``newest`` is durable. Returns the deleted paths.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    older = [path for iteration, path in list_checkpoints(directory) if iteration < newest]
    doomed = older[keep - 1 :] + list_temporaries(directory)
    for path in doomed:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    if doomed:
        fsync_directory(directory)
    return doomed
