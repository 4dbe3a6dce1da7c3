"""Checkpoint directories: checkpoints of any size, written in parallel, published as a whole.

A checkpoint directory ``checkpoint-{iteration:08d}.caudal/`` holds one file
per stage (or per part of a large stage, :mod:`caudal.checkpoint.shards`) and
``manifest.caudal`` (:mod:`caudal.checkpoint.manifest`). It has the same name
a single file would have, so everything that lists, sorts, prunes or falls
back over checkpoints treats both alike.

Writing (:func:`write_checkpoint_directory`):

1. rank 0 creates a temporary directory ``.checkpoint-<pid>-<random>.tmp``
   beside the checkpoints and tells the other ranks its name;
2. the stage files are dealt to the ranks round-robin, and each rank writes
   its own with a few threads (encoding copies and SHA-256 release the GIL,
   so do ``write`` and ``fsync``), each file fsynced;
3. the ranks sum their files' sizes and digests into one table (a rank that
   does not see the directory, on a file system not shared with rank 0,
   leaves its files to rank 0);
4. rank 0 writes the manifest, fsyncs the temporary directory, renames it to
   its final name (swapping atomically with a checkpoint of the same iteration
   if there is one) and fsyncs the parent directory;
5. rank 0 tells every rank whether it worked, so they all return or all raise.

A crash before step 4 leaves only a temporary directory, which readers ignore
and the next write deletes: the previous checkpoint stays the newest.

Reading (:func:`read_checkpoint_directory`) verifies the manifest, then every
stage file against its own header and against the manifest (size and digest),
a few files at a time on threads, and assembles a
:class:`~caudal.checkpoint.contents.Checkpoint` of zero-copy views over the
files' memory maps.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from caudal.checkpoint.contents import Checkpoint
from caudal.checkpoint.decode import _basis, _Problem
from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.files import create_temporary_directory, fsync_directory, replace_entry
from caudal.checkpoint.framing import (
    FLAG_SHA256,
    HEADER_SIZE,
    Header,
    check_payload,
    decode_header,
    encode_header,
    header_for,
)
from caudal.checkpoint.manifest import MANIFEST_NAME, Manifest, ShardEntry, decode_manifest, encode_manifest
from caudal.checkpoint.shards import (
    SHARD_BYTES,
    BuilderCache,
    DecodedShard,
    ShardPlan,
    decode_shard,
    encode_shard,
    join_parts,
    plan_shards,
)
from caudal.parallel.comm import Communicator, SingleProcessCommunicator
from caudal.sddp.training import TrainingOptions, TrainingState

log = logging.getLogger("caudal.checkpoint")

# MAP_POPULATE maps every page of the file in one system call, instead of one
# page fault per few pages as the digest and the restore walk through it
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
_NAME_BYTES = 4096  # room for the temporary directory's path when it is broadcast
_WRITTEN, _SIZE, _RANK, _DIGEST = 0, 1, 2, 3  # columns of the table the ranks sum (digest: 2 int64)
_CHUNK_BYTES = 1 << 20  # hashed, then written, while it is in the CPU's cache


def write_checkpoint_directory(
    path: Path,
    state: TrainingState,
    options: TrainingOptions,
    layout: Mapping[str, Any],
    visited: Sequence[np.ndarray],
    *,
    comm: Communicator | None = None,
    threads: int = 1,
    shard_bytes: int = SHARD_BYTES,
) -> None:
    """Write the checkpoint directory ``path`` atomically; collective over ``comm`` (every rank calls it).

    Every rank holds the whole ``state`` (as the training does); each writes
    the stage files dealt to it. Raises on every rank if any rank failed, and
    leaves no partial checkpoint under ``path``.
    """
    comm = comm or SingleProcessCommunicator()
    bases = [_basis_arrays(state, t) for t in range(state.problem.n_stages)]
    basis_bytes = [sum(a.nbytes for a in basis) for basis in bases]
    plan = plan_shards(list(state.pools), list(visited), basis_bytes, shard_bytes)
    temporary = _agree_on_temporary(path, comm)
    table = np.zeros((len(plan), _DIGEST + 2), dtype=np.int64)
    problem = ""
    if temporary.is_dir():
        mine = [k for k in range(len(plan)) if k % comm.size == comm.rank]
        try:
            _write_shards(temporary, state, visited, bases, plan, mine, comm.rank, threads, table)
        except Exception as error:  # reported to every rank below, so none waits forever
            problem = f"{type(error).__name__}: {error}"
    failed = comm.allreduce_sum(np.array([1 if problem else 0], dtype=np.int64))
    table = comm.allreduce_sum(table)
    outcome = np.zeros(1, dtype=np.int64)
    if comm.rank == 0:
        if not failed[0]:
            try:
                _finish(path, temporary, state, options, layout, visited, bases, plan, table, threads)
                outcome[0] = 1
            except Exception as error:
                problem = f"{type(error).__name__}: {error}"
        if not outcome[0]:
            shutil.rmtree(temporary, ignore_errors=True)
    comm.bcast_into(outcome)
    if not outcome[0]:
        if not problem:
            problem = (f"{failed[0]} rank(s) could not write their stage files" if failed[0]
                       else "rank 0 could not publish it")
        raise CheckpointError(path, f"checkpoint not written: {problem}", "write")


def _basis_arrays(state: TrainingState, stage: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    basis, lp = state.cache.bases[stage], state.cache.lps[stage]
    if basis.row_status.shape[0] != lp.num_rows or basis.col_status.shape[0] != lp.num_cols:
        raise ValueError(
            f"stage {stage}: the cached basis ({basis.col_status.shape[0]} cols, "
            f"{basis.row_status.shape[0]} rows) does not fit its LP ({lp.num_cols} x {lp.num_rows})"
        )
    return basis.col_status, basis.row_status, np.asarray(lp.cut_ids, dtype=np.int64)


def _agree_on_temporary(path: Path, comm: Communicator) -> Path:
    """Rank 0 creates the temporary directory; every rank learns its name (empty if it failed)."""
    name = np.zeros(_NAME_BYTES, dtype=np.uint8)
    error: OSError | None = None
    if comm.rank == 0:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            encoded = os.fsencode(create_temporary_directory(path.parent))
            name[: len(encoded)] = np.frombuffer(encoded, dtype=np.uint8)
        except OSError as failure:
            error = failure
    comm.bcast_into(name)
    text = bytes(name).rstrip(b"\0")
    if not text:
        raise CheckpointError(path, f"checkpoint not written: cannot create a temporary directory ({error})", "write")
    return Path(os.fsdecode(text))


def _write_shards(
    temporary: Path,
    state: TrainingState,
    visited: Sequence[np.ndarray],
    bases: list,
    plan: list[ShardPlan],
    indices: list[int],
    rank: int,
    threads: int,
    table: np.ndarray,
) -> None:
    """Write the stage files ``indices`` of ``plan`` into ``temporary``; fill their rows of ``table``."""

    reused = threading.local()  # one builder per thread, for all the files it writes

    def write_one(k: int) -> None:
        shard = plan[k]
        basis = bases[shard.stage] if shard.part == 0 else None
        if not hasattr(reused, "builders"):
            reused.builders = BuilderCache()
        payload = encode_shard(shard, state.pools[shard.stage], visited[shard.stage], basis, reused.builders)
        header = _write_hashing(temporary / shard.file_name, payload)
        table[k, _WRITTEN] = 1
        table[k, _SIZE] = len(header) + len(payload)
        table[k, _RANK] = rank
        table[k, _DIGEST : _DIGEST + 2] = np.frombuffer(header[24:40], dtype="<i8")

    _run(write_one, indices, threads)


def _write_hashing(target: Path, payload: memoryview) -> bytes:
    """Write a new stage file ``target`` (header, then ``payload``) and fsync it; return the header.

    One pass over the payload: each chunk is hashed while it is still in the
    CPU's cache and then written, on the calling thread (SHA-256 and ``write``
    both release the GIL, so several stage files go on at once). The header,
    which carries the digest, is put in front last; nobody reads the file
    before the manifest lists it, so no reader sees it without its header.
    """
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        position = HEADER_SIZE
        for start in range(0, len(payload), _CHUNK_BYTES):
            chunk = payload[start : start + _CHUNK_BYTES]
            digest.update(chunk)
            position += _pwrite_all(fd, chunk, position)
        header = header_for(len(payload), digest.digest()[:16], FLAG_SHA256)
        _pwrite_all(fd, header, 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    return header


def _pwrite_all(fd: int, data: bytes | memoryview, position: int) -> int:
    """``os.pwrite`` until every byte of ``data`` is at ``position`` (a write may be short)."""
    view, done = memoryview(data), 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], position + done)
    return done


def _run(action, items: list, threads: int) -> list:
    """``action`` over ``items`` on up to ``threads`` threads; the first exception (in item order) is raised."""
    if threads <= 1 or len(items) <= 1:
        return [action(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="checkpoint") as executor:
        futures = [executor.submit(action, item) for item in items]
        return [future.result() for future in futures]


def _finish(
    path: Path,
    temporary: Path,
    state: TrainingState,
    options: TrainingOptions,
    layout: Mapping[str, Any],
    visited: Sequence[np.ndarray],
    bases: list,
    plan: list[ShardPlan],
    table: np.ndarray,
    threads: int,
) -> None:
    """Rank 0: write what no rank could, then the manifest; publish the directory."""
    missing = [k for k in range(len(plan)) if not table[k, _WRITTEN]]
    if missing:
        log.warning("%s: %d stage file(s) written by rank 0: their ranks do not see %s (not a shared file system?)",
                    path, len(missing), temporary)
        _write_shards(temporary, state, visited, bases, plan, missing, 0, threads, table)
    entries = []
    for k, shard in enumerate(plan):
        size = (temporary / shard.file_name).stat().st_size
        if size != table[k, _SIZE]:
            raise OSError(f"{shard.file_name} has {size} bytes on rank 0, its writer wrote {table[k, _SIZE]}")
        digest = table[k, _DIGEST : _DIGEST + 2].astype("<i8").tobytes()
        entries.append(ShardEntry(shard, int(size), digest, int(table[k, _RANK])))
    payload = encode_manifest(state, options, dict(layout), entries)
    fd = os.open(temporary / MANIFEST_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    with os.fdopen(fd, "wb") as stream:
        stream.write(encode_header(payload))
        stream.write(payload)
        stream.flush()
        os.fsync(stream.fileno())
    fsync_directory(temporary)
    replace_entry(temporary, path)
    fsync_directory(path.parent)


def read_checkpoint_directory(path: Path, *, threads: int = 4) -> Checkpoint:
    """Verify and decode a checkpoint directory; raise :class:`CheckpointError` naming the file at fault."""
    manifest, manifest_bytes = read_manifest_and_size(path)
    shards = _run(lambda entry: _read_shard(path, entry, manifest.case.n_states), list(manifest.shards), threads)
    return _assemble(path, manifest, shards, manifest_bytes + sum(entry.file_size for entry in manifest.shards))


def read_manifest(path: str | os.PathLike) -> Manifest:
    """The verified manifest of checkpoint directory ``path`` alone (which files, their digests, who wrote them)."""
    return read_manifest_and_size(Path(path))[0]


def read_manifest_and_size(path: Path) -> tuple[Manifest, int]:
    manifest_path = path / MANIFEST_NAME
    data = _map(manifest_path)
    header = decode_header(manifest_path, data[:4096], len(data))
    payload = data[header.header_size :]
    check_payload(manifest_path, header, payload)
    try:
        manifest = decode_manifest(payload, header.format_version)
    except _Problem as problem:
        raise CheckpointError(manifest_path, f"inconsistent manifest: {problem}", "payload") from None
    except Exception as error:
        raise CheckpointError(manifest_path, f"manifest does not decode ({type(error).__name__}: {error})",
                              "payload") from error
    return manifest, len(data)


def _map(path: Path) -> memoryview:
    """A read-only memory map of ``path`` (an empty view for an empty file)."""
    try:
        with open(path, "rb") as stream:
            if os.fstat(stream.fileno()).st_size == 0:
                return memoryview(b"")
            return memoryview(mmap.mmap(stream.fileno(), 0, flags=_MAP_FLAGS, prot=mmap.PROT_READ))
    except OSError as error:
        raise CheckpointError(path, f"cannot read: {error.strerror or error}", "missing") from error


def _read_shard(directory: Path, entry: ShardEntry, n_states: int) -> DecodedShard:
    path = directory / entry.plan.file_name
    data = _map(path)
    check_stage_file_size(path, entry, len(data))
    header = decode_header(path, data[:4096], len(data))
    check_stage_file_digest(path, entry, header)
    payload = data[header.header_size :]
    check_payload(path, header, payload)
    return decode_stage_file(path, payload, entry, n_states)


def check_stage_file_size(path: Path, entry: ShardEntry, size: int) -> None:
    """Refuse a stage file whose size is not the manifest's (cut short, or with bytes added)."""
    if size != entry.file_size:
        kind = "truncated" if size < entry.file_size else "trailing"
        raise CheckpointError(path, f"{size} bytes, the manifest says {entry.file_size}", kind)


def check_stage_file_digest(path: Path, entry: ShardEntry, header: Header) -> None:
    """Refuse a stage file whose header carries another digest than the manifest lists."""
    if header.payload_digest != entry.payload_digest:
        raise CheckpointError(path, "its digest is not the one the manifest lists (a file of another checkpoint?)",
                              "checksum")


def decode_stage_file(path: Path, payload: memoryview, entry: ShardEntry, n_states: int) -> DecodedShard:
    """Decode a verified stage file's payload into views; a :class:`CheckpointError` naming ``path`` if odd."""
    try:
        return decode_shard(payload, entry.plan, n_states)
    except _Problem as problem:
        raise CheckpointError(path, f"inconsistent stage file: {problem}", "payload") from None
    except Exception as error:
        raise CheckpointError(path, f"stage file does not decode ({type(error).__name__}: {error})",
                              "payload") from error


def _assemble(path: Path, manifest: Manifest, shards: list[DecodedShard], size_bytes: int) -> Checkpoint:
    n_stages, n_states = manifest.case.n_stages, manifest.case.n_states
    by_stage: list[list[tuple[ShardEntry, DecodedShard]]] = [[] for _ in range(n_stages)]
    for entry, shard in zip(manifest.shards, shards, strict=True):
        by_stage[entry.plan.stage].append((entry, shard))
    pools, bases, visited = [], [], []
    for stage, parts in enumerate(by_stage):
        pool = join_parts([shard.cuts for _, shard in parts], stage, n_states)
        pools.append(pool)
        first = parts[0]
        try:
            bases.append(_basis(first[1].basis, stage, pool.n_cuts))
        except _Problem as problem:
            raise CheckpointError(path / first[0].plan.file_name, f"inconsistent stage file: {problem}",
                                  "payload") from None
        rows = [shard.visited for _, shard in parts]
        visited.append(rows[0] if len(rows) == 1 else np.concatenate(rows))
    return Checkpoint(
        path=path,
        size_bytes=size_bytes,
        cut_pools=tuple(pools),
        bases=tuple(bases),
        visited_states=tuple(visited),
        files=1 + len(shards),
        **manifest_header(manifest),
    )


def manifest_header(manifest: Manifest) -> dict:
    """The :class:`Checkpoint` fields a manifest gives as they are (whole or deferred reads share them)."""
    return {
        "format_version": manifest.format_version,
        "case_fingerprint": manifest.case_fingerprint,
        "options_fingerprint": manifest.options_fingerprint,
        "case": manifest.case,
        "options": manifest.options,
        "iteration": manifest.iteration,
        "rng_seed": manifest.rng_seed,
        "rng_next_iteration": manifest.rng_next_iteration,
        "history": manifest.history,
        "writer": manifest.writer,
        "warm_start": manifest.warm_start,
    }
