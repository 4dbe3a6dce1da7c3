"""Writing, reading and finding checkpoints: the file-level API of the package.

* :func:`write_checkpoint` encodes a training state, frames it (header with a
  checksum) and writes it atomically as ``checkpoint-{iteration:08d}.caudal``,
  then keeps only the last ``keep`` checkpoints. A large state (see
  :func:`writes_directory`) becomes a checkpoint *directory* of that name
  instead, one file per stage written in parallel
  (:mod:`caudal.checkpoint.directory`).
* :func:`read_checkpoint` verifies a file (magic, header checksum, version,
  length, payload checksum, payload consistency) and decodes it into numpy
  views over a read-only ``mmap`` of the file, without copying the arrays.
* :func:`latest_valid` finds the newest checkpoint that verifies and says, for
  every newer one it skipped, why.
"""

from __future__ import annotations

import logging
import mmap
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from caudal.checkpoint.contents import Checkpoint
from caudal.checkpoint.decode import decode_checkpoint
from caudal.checkpoint.directory import read_checkpoint_directory, write_checkpoint_directory
from caudal.checkpoint.encode import _visited, encode_checkpoint
from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.files import (
    atomic_write,
    checkpoint_name,
    create_temporary_directory,
    list_checkpoints,
    list_impostors,
    list_temporaries,
    prune,
    replace_entry,
)
from caudal.checkpoint.framing import check_payload, decode_header, encode_header
from caudal.checkpoint.schedule import DEFAULT_KEEP
from caudal.checkpoint.shards import SHARD_BYTES
from caudal.checkpoint.stage_files import open_checkpoint_directory
from caudal.parallel.comm import Communicator
from caudal.sddp.training import TrainingOptions, TrainingState

DIRECTORY_ABOVE = 256 << 20
"""A checkpoint estimated larger than this (bytes) is written as a directory of stage files."""

log = logging.getLogger("caudal.checkpoint")
# The warnings are returned to the caller, who shows them; the log is for applications that configure
# logging. Without a handler of its own, Python's last-resort handler would print each one a second time.
log.addHandler(logging.NullHandler())


def write_checkpoint(
    directory: str | os.PathLike,
    state: TrainingState,
    options: TrainingOptions,
    *,
    keep: int = DEFAULT_KEEP,
    layout: Mapping[str, Any] | None = None,
    visited_states: Sequence[np.ndarray] | None = None,
    as_directory: bool | None = None,
    comm: Communicator | None = None,
    threads: int = 1,
    shard_bytes: int = SHARD_BYTES,
) -> Path:
    """Write a checkpoint of ``state`` into ``directory`` (created if needed); return its path.

    ``layout`` describes the writer, for the record only: ``{"ranks": int,
    "threads": int, "hostname": str, "workers": [{"rank", "thread",
    "hostname", "cpu"}, ...]}`` (every key optional). ``visited_states``
    gives one float64 ``(rows, n_states)`` array per stage (default: the
    state's own archives). The write is atomic and durable before older
    checkpoints beyond the last ``keep`` are deleted.

    ``as_directory`` chooses the layout: a single file (False), a checkpoint
    directory of stage files (True), or by size (None, :func:`writes_directory`).
    A directory is written by every rank of ``comm`` (so call this on every
    rank, with the same state), each with ``threads`` threads, in stage files
    of at most about ``shard_bytes``; a single file by rank 0 alone (the other
    ranks return its path without writing).
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    directory = Path(directory)
    path = directory / checkpoint_name(state.iteration)
    problem = state.problem
    if visited_states is None:
        visited_states = [archive.states for archive in state.visited]
    visited = _visited(problem.n_stages, problem.n_states, visited_states)
    if as_directory is None:
        as_directory = writes_directory(state, visited)
    rank = comm.rank if comm is not None else 0
    if as_directory:
        write_checkpoint_directory(path, state, options, layout or {}, visited, comm=comm, threads=threads,
                                   shard_bytes=shard_bytes)
    elif rank == 0:
        directory.mkdir(parents=True, exist_ok=True)
        try:
            payload = encode_checkpoint(state, options, layout, visited)
        except CheckpointError as error:
            raise CheckpointError(path, error.problem, error.kind) from error
        try:
            if path.is_dir():  # this iteration was saved as a directory before: swap, never leave neither
                staged = create_temporary_directory(directory) / path.name
                atomic_write(staged, (encode_header(payload), payload))
                replace_entry(staged, path)
                staged.parent.rmdir()
            else:
                atomic_write(path, (encode_header(payload), payload))
        except OSError as error:  # ENOSPC says "[Errno 28]" and nothing of where
            raise CheckpointError(path, f"cannot write: {error.strerror or error} (the older checkpoints are kept)",
                                  "write") from error
    if rank == 0:
        prune(directory, state.iteration, keep)
    return path


def writes_directory(state: TrainingState, visited: Sequence[np.ndarray]) -> bool:
    """Whether ``state``'s checkpoint is large enough (over :data:`DIRECTORY_ABOVE`) to be a directory.

    An upper bound of the single file's size, from the pool sizes alone, so
    every rank decides alike. Above it a single file would take seconds to
    encode on one core, and soon meet the 2 GiB limit of one FlatBuffer.
    """
    estimate = 0
    for pool, rows in zip(state.pools, visited, strict=True):
        estimate += pool.size * (37 + 12 * pool.n_states) + int(np.asarray(rows).nbytes)
    return estimate > DIRECTORY_ABOVE


def read_checkpoint(path: str | os.PathLike, *, use_mmap: bool = True, defer_stages: bool = False) -> Checkpoint:
    """Verify and decode a checkpoint file or directory; raise :class:`CheckpointError` naming the problem.

    With ``use_mmap`` (the default) the arrays are read-only views over a
    memory map of the file, so only the pages touched are read; otherwise the
    file is read into one ``bytes`` object and the arrays view that. A
    checkpoint directory is always memory-mapped, and its stage files are
    verified a few at a time on threads.

    ``defer_stages`` (for a resume) leaves a checkpoint directory's stage files
    unread: only the manifest is verified, and the files' presence and sizes;
    :func:`~caudal.checkpoint.restore.restore_state` then verifies and reads
    them one at a time straight into the pools. A single file is read whole
    either way.
    """
    path = Path(path)
    if path.is_dir():
        return open_checkpoint_directory(path) if defer_stages else read_checkpoint_directory(path)
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size == 0:
                data: Any = b""
            elif use_mmap:
                data = memoryview(mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ))
            else:
                data = memoryview(stream.read())
    except OSError as error:
        raise CheckpointError(path, f"cannot read: {error.strerror or error}", "missing") from error
    header = decode_header(path, data[:4096], len(data))
    payload = data[header.header_size :]
    check_payload(path, header, payload)
    return decode_checkpoint(path, payload, header.format_version, len(data))


def verify_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Same as :func:`read_checkpoint`; the name says why it is called."""
    return read_checkpoint(path)


def load_latest(
    directory: str | os.PathLike,
    accept: Callable[[Checkpoint], object] | None = None,
    *,
    defer_stages: bool = False,
) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint in ``directory`` that verifies, decoded, and what was skipped on the way.

    ``accept(checkpoint)``, if given, may raise :class:`CheckpointError` to skip
    a checkpoint that verifies but does not suit the caller (another case or
    seed, for a resume): it is skipped like a damaged one, with a warning, and
    the search goes on to older ones. With ``defer_stages`` (see
    :func:`read_checkpoint`) the stage files of a checkpoint directory are
    verified by ``accept`` as it reads them, and a damaged one is skipped the same way.
    """
    directory = Path(directory)
    warnings: list[str] = []
    if not directory.is_dir():
        warnings.append(f"{directory}: no such checkpoint directory")
        return None, _logged(warnings)
    temporaries = list_temporaries(directory)
    if temporaries:
        warnings.append(
            f"{directory}: ignored {len(temporaries)} unfinished temporary file(s) "
            f"({', '.join(p.name for p in temporaries)}): a writer stopped mid-write"
        )
    for path, what in list_impostors(directory):
        warnings.append(f"ignored {path}: {what}, not a checkpoint file")
    skipped = False
    for _, path in list_checkpoints(directory):
        try:
            checkpoint = read_checkpoint(path, defer_stages=defer_stages)
            if accept is not None:
                accept(checkpoint)
        except CheckpointError as error:
            warnings.append(f"skipped {error}")
            skipped = True
            continue
        if skipped:
            warnings.append(f"falling back to the previous good checkpoint {path} (iteration {checkpoint.iteration})")
        return checkpoint, _logged(warnings)
    warnings.append(f"{directory}: no valid checkpoint")
    return None, _logged(warnings)


def latest_valid(directory: str | os.PathLike) -> tuple[Path | None, list[str]]:
    """Path of the newest checkpoint in ``directory`` that verifies, and a warning per file skipped.

    Every warning is also logged on the ``caudal.checkpoint`` logger.
    """
    checkpoint, warnings = load_latest(directory)
    return (checkpoint.path if checkpoint is not None else None), warnings


def _logged(warnings: list[str]) -> list[str]:
    for warning in warnings:
        log.warning(warning)
    return warnings
