"""Writing, reading and finding checkpoints: the file-level API of the package.

* :func:`write_checkpoint` encodes a training state, frames it (header with a
  checksum) and writes it atomically as ``checkpoint-{iteration:08d}.caudal``,
  then keeps only the last ``keep`` checkpoints.
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from caudal.checkpoint.contents import Checkpoint
from caudal.checkpoint.decode import decode_checkpoint
from caudal.checkpoint.encode import encode_checkpoint
from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.files import atomic_write, checkpoint_name, list_checkpoints, list_temporaries, prune
from caudal.checkpoint.framing import check_payload, decode_header, encode_header
from caudal.sddp.training import TrainingOptions, TrainingState

DEFAULT_KEEP = 3

log = logging.getLogger("caudal.checkpoint")


def write_checkpoint(
    directory: str | os.PathLike,
    state: TrainingState,
    options: TrainingOptions,
    *,
    keep: int = DEFAULT_KEEP,
    layout: Mapping[str, Any] | None = None,
    visited_states: Sequence[np.ndarray] | None = None,
) -> Path:
    """Write a checkpoint of ``state`` into ``directory`` (created if needed); return its path.

    ``layout`` describes the writer, for the record only: ``{"ranks": int,
    "threads": int, "hostname": str, "workers": [{"rank", "thread",
    "hostname", "cpu"}, ...]}`` (every key optional). ``visited_states``
    gives one float64 ``(rows, n_states)`` array per stage (default: none).
    The write is atomic and durable before older checkpoints beyond the last
    ``keep`` are deleted.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / checkpoint_name(state.iteration)
    try:
        payload = encode_checkpoint(state, options, layout, visited_states)
    except CheckpointError as error:
        raise CheckpointError(path, error.problem, error.kind) from error
    atomic_write(path, (encode_header(payload), payload))
    prune(directory, state.iteration, keep)
    return path


def read_checkpoint(path: str | os.PathLike, *, use_mmap: bool = True) -> Checkpoint:
    """Verify and decode a checkpoint file; raise :class:`CheckpointError` naming the problem.

    With ``use_mmap`` (the default) the arrays are read-only views over a
    memory map of the file, so only the pages touched are read; otherwise the
    file is read into one ``bytes`` object and the arrays view that.
    """
    path = Path(path)
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


def load_latest(directory: str | os.PathLike) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint in ``directory`` that verifies, decoded, and what was skipped on the way."""
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
    for _, path in list_checkpoints(directory):
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointError as error:
            warnings.append(f"skipped {error}")
            continue
        if any(w.startswith("skipped ") for w in warnings):
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
