"""A checkpoint directory's stage files, read one at a time: what a resume streams into the cut pools.

:func:`~caudal.checkpoint.directory.read_checkpoint_directory` maps every stage
file and verifies it up front, so that inspect, export and verify see the whole
checkpoint. A resume must not: at production size (10,000 cuts of 400 states
at each of 120 stages, some 4 GB) holding every file mapped while the pools
are rebuilt from them would hold every cut twice. :func:`open_checkpoint_directory`
verifies the manifest alone and checks that every stage file it lists is there
with its size; the stage files are left to a :class:`StageFiles`, which reads
them one after the other into one buffer reused from file to file, hashing
each chunk as it arrives (one pass over the bytes, the digest checked against
the header and the manifest before anything is decoded), and hands out
zero-copy views of the decoded file.

Reading the next file on a second thread while the current one is copied was
tried and gave nothing measurable on the 2-core test machine, where the copy
into never-touched pool memory dominates (about 300 MB/s there, bound by page
faults); so the files are read one at a time, on the calling thread.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caudal.checkpoint.contents import Checkpoint
from caudal.checkpoint.directory import (
    check_stage_file_digest,
    check_stage_file_size,
    decode_stage_file,
    manifest_header,
    read_manifest_and_size,
)
from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.framing import check_digest, decode_header, payload_hasher
from caudal.checkpoint.manifest import Manifest, ShardEntry
from caudal.checkpoint.shards import DecodedShard

_CHUNK_BYTES = 1 << 20  # hashed right after it is read, while it is in the CPU's cache
_HEAD_BYTES = 4096  # enough for any header (framing reads at most this much)


class StageFiles:
    """The stage files of a checkpoint directory whose manifest was verified, read on demand.

    :meth:`read` verifies one file and decodes it into views of a buffer that
    the next :meth:`read` overwrites: copy what must outlive it (the pools are
    filled from the views, the basis copied) before reading the next file.
    """

    def __init__(self, directory: Path, manifest: Manifest) -> None:
        self.directory = directory
        self.manifest = manifest
        self.n_states = manifest.case.n_states
        self._parts: list[list[ShardEntry]] = [[] for _ in range(manifest.case.n_stages)]
        for entry in manifest.shards:
            self._parts[entry.plan.stage].append(entry)
        self._buffer = np.empty(0, dtype=np.uint8)

    @property
    def n_stages(self) -> int:
        return len(self._parts)

    def parts(self, stage: int) -> list[ShardEntry]:
        """The files of ``stage``, part 0 (with the basis) first."""
        return self._parts[stage]

    def n_cuts(self, stage: int) -> int:
        return sum(entry.plan.n_cuts for entry in self._parts[stage])

    def n_visited(self, stage: int) -> int:
        return sum(entry.plan.n_visited for entry in self._parts[stage])

    @property
    def total_cuts(self) -> int:
        return sum(entry.plan.n_cuts for entry in self.manifest.shards)

    def read(self, entry: ShardEntry) -> DecodedShard:
        """Read, verify and decode one stage file; its views are valid until the next :meth:`read`."""
        path = self.directory / entry.plan.file_name
        payload = self._read_verified(path, entry)
        return decode_stage_file(path, payload, entry, self.n_states)

    def release(self) -> None:
        """Drop the read buffer (the largest stage file's size) once every file is read."""
        self._buffer = np.empty(0, dtype=np.uint8)

    def _read_verified(self, path: Path, entry: ShardEntry) -> memoryview:
        """The payload of the stage file ``path``, read into the buffer and hashed as it is read."""
        try:
            with open(path, "rb", buffering=0) as stream:
                size = os.fstat(stream.fileno()).st_size
                check_stage_file_size(path, entry, size)
                header = decode_header(path, os.pread(stream.fileno(), min(size, _HEAD_BYTES), 0), size)
                check_stage_file_digest(path, entry, header)
                if self._buffer.size < header.payload_length:
                    self._buffer = np.empty(0, dtype=np.uint8)  # the old one goes before the new one comes
                    self._buffer = np.empty(header.payload_length, dtype=np.uint8)
                payload = memoryview(self._buffer)[: header.payload_length]
                hasher = payload_hasher(header.flags)
                stream.seek(header.header_size)
                for start in range(0, header.payload_length, _CHUNK_BYTES):
                    chunk = payload[start : start + _CHUNK_BYTES]
                    _read_exactly(stream, chunk, path)
                    hasher.update(chunk)
        except OSError as error:
            raise CheckpointError(path, f"cannot read: {error.strerror or error}", "missing") from error
        check_digest(path, header, hasher.digest())
        return payload


def _read_exactly(stream: io.RawIOBase, chunk: memoryview, path: Path) -> None:
    """Fill ``chunk`` from ``stream`` (a read may return fewer bytes than asked)."""
    done = 0
    while done < len(chunk):
        got = stream.readinto(chunk[done:])
        if not got:
            raise CheckpointError(path, "truncated while it was read (the file shrank)", "truncated")
        done += got


@dataclass(frozen=True, kw_only=True)
class DeferredCheckpoint(Checkpoint):
    """A checkpoint directory opened for a resume: its manifest verified, its stage tables left in their files.

    ``cut_pools``, ``bases`` and ``visited_states`` are empty;
    :func:`~caudal.checkpoint.restore.restore_state` reads them through ``stage_files``.
    """

    stage_files: StageFiles

    @property
    def n_cuts(self) -> int:
        return self.stage_files.total_cuts


def open_checkpoint_directory(path: Path) -> DeferredCheckpoint:
    """A checkpoint directory with its manifest verified and its stage files deferred to a :class:`StageFiles`.

    Every stage file the manifest lists must exist with the size it gives
    (cheap, and it lets a search for the newest usable checkpoint skip a
    damaged one before a resume starts); digests are checked as the files are
    read.
    """
    manifest, manifest_bytes = read_manifest_and_size(path)
    for entry in manifest.shards:
        stage_path = path / entry.plan.file_name
        try:
            size = stage_path.stat().st_size
        except OSError as error:
            raise CheckpointError(stage_path, f"cannot read: {error.strerror or error}", "missing") from error
        check_stage_file_size(stage_path, entry, size)
    return DeferredCheckpoint(
        path=path,
        size_bytes=manifest_bytes + sum(entry.file_size for entry in manifest.shards),
        cut_pools=(),
        bases=(),
        visited_states=(),
        files=1 + len(manifest.shards),
        stage_files=StageFiles(path, manifest),
        **manifest_header(manifest),
    )
