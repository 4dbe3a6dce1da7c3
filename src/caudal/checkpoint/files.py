"""Checkpoint files on disk: names, the atomic write, and keeping the last K.

A crash at any moment must leave either the previous set of checkpoints or the
previous set plus a complete new one, never a partial file under a checkpoint
name. So the bytes go to a temporary file in the same directory, which is
flushed and fsynced, then renamed over the final name (atomic on POSIX), and the
directory is fsynced so the rename itself survives a power cut. Older
checkpoints are deleted only after that. Temporary names never match
:data:`NAME_PATTERN`, so a reader cannot mistake one for a checkpoint.

A checkpoint may also be a directory of that name (a checkpoint directory,
:mod:`caudal.checkpoint.directory`), built in a temporary directory and renamed
whole; the helpers below list, replace and delete both kinds alike.

One writer per directory is assumed (the leader rank).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from caudal._libc import libc

CHECKPOINT_FOLDER = "checkpoints"
"""Where checkpoints go inside a run's output directory."""
NAME_PATTERN = re.compile(r"^checkpoint-(\d{8,})\.caudal$")
TEMP_PREFIX = ".checkpoint-"
TEMP_SUFFIX = ".tmp"


def checkpoint_name(iteration: int) -> str:
    """``checkpoint-{iteration:08d}.caudal``: names sort like iterations."""
    if iteration < 0:
        raise ValueError(f"iteration must be non-negative, got {iteration}")
    return f"checkpoint-{iteration:08d}.caudal"


def list_checkpoints(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """(iteration, path) of every file or checkpoint directory named like a checkpoint, newest first."""
    found = []
    for entry in os.scandir(directory):
        match = NAME_PATTERN.match(entry.name)
        if match and (entry.is_file() or entry.is_dir()):
            found.append((int(match.group(1)), Path(entry.path)))
    found.sort(key=lambda item: item[0], reverse=True)
    return found


def list_impostors(directory: str | os.PathLike) -> list[tuple[Path, str]]:
    """Entries named like a checkpoint that are neither a file nor a directory, each with what it is instead.

    A FIFO there would block a reader forever, a dangling link points
    nowhere: they are reported, never opened. (A directory is a checkpoint
    directory, :mod:`caudal.checkpoint.directory`.)
    """
    found = []
    for entry in os.scandir(directory):
        if NAME_PATTERN.match(entry.name) and not (entry.is_file() or entry.is_dir()):
            found.append((Path(entry.path), _what(Path(entry.path))))
    return sorted(found)


def _what(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"a dangling symbolic link to {os.readlink(path)}"
    mode = path.stat().st_mode
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


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
    """A new, exclusive temporary file; unlike ``mkstemp`` it gets the umask's permissions, not 0600.

    Its random part comes from ``os.urandom``, as ``secrets.token_hex`` would give it, without
    importing ``secrets`` (which loads OpenSSL, 3 MB resident) into every training.
    """
    while True:
        path = directory / f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}{TEMP_SUFFIX}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), path
        except FileExistsError:
            continue


def _temporary_name(directory: Path) -> Path:
    return directory / f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}{TEMP_SUFFIX}"


def create_temporary_directory(directory: Path) -> Path:
    """A new, empty temporary directory in ``directory``, named like the temporary files."""
    while True:
        path = _temporary_name(directory)
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _rename_exchange(source: Path, target: Path) -> bool:
    """Swap two existing names atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    renameat2 = getattr(libc(), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(source), at_fdcwd, os.fsencode(target), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # this kernel or file system cannot swap
    raise OSError(error, os.strerror(error), str(target))


def replace_entry(source: Path, target: Path) -> None:
    """Rename ``source`` (file or directory) to ``target``, replacing whatever ``target`` is.

    ``os.replace`` cannot put a directory over a file or a non-empty
    directory, so an existing ``target`` is first swapped with ``source``
    atomically where the kernel can, and deleted afterwards: at every moment
    one complete checkpoint of that iteration exists. Elsewhere the old one is
    moved aside first (a crash in between loses only that iteration's copy).
    """
    if not os.path.lexists(target):
        os.rename(source, target)
        return
    if not _rename_exchange(source, target):
        aside = _temporary_name(target.parent)
        os.rename(target, aside)
        os.rename(source, target)
        source = aside
    remove_entry(source)


def remove_entry(path: Path) -> None:
    """Delete a checkpoint file or directory; a directory is renamed to a temporary name first.

    So a crash mid-deletion leaves a temporary (ignored, deleted later),
    never a half-deleted directory under a checkpoint name.
    """
    try:
        if path.is_dir() and not path.is_symlink():
            if NAME_PATTERN.match(path.name):
                aside = _temporary_name(path.parent)
                os.rename(path, aside)
                path = aside
            import shutil  # here: shutil brings bz2 and lzma, needed only to remove a directory

            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


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
        remove_entry(path)
    if doomed:
        fsync_directory(directory)
    return doomed
