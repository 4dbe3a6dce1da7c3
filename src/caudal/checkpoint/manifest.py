"""The manifest of a checkpoint directory: the global parts, and the digest of every stage file.

The manifest is a ``Checkpoint`` FlatBuffer like a single-file checkpoint's
payload, framed the same way, with everything but the per-stage tables:
format version, fingerprints, case summary, options, iteration, RNG state,
history and writer. Its ``cut_pools``, ``bases`` and ``visited_states`` are
empty; ``shards`` lists the stage files instead, each with its size, the
digest its header carries and the rank that wrote it. A stage file that is
damaged, missing, or swapped for one of another checkpoint therefore fails
the comparison with the manifest, and the whole directory is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import flatbuffers
import numpy as np

from caudal.checkpoint.contents import SavedCase, SavedHistory, SavedOptions, WriterInfo
from caudal.checkpoint.decode import _array, _case, _history, _options, _require, _text, _writer
from caudal.checkpoint.encode import _tables, _vector, checkpoint_header, finish_checkpoint
from caudal.checkpoint.generated import checkpoint_generated as fb
from caudal.checkpoint.shards import ShardPlan
from caudal.sddp.training import TrainingOptions, TrainingState

MANIFEST_NAME = "manifest.caudal"


@dataclass(frozen=True)
class ShardEntry:
    """A stage file as the manifest lists it."""

    plan: ShardPlan
    file_size: int
    payload_digest: bytes  # 16 bytes: the digest in the file's header
    rank: int  # who wrote it


@dataclass(frozen=True)
class Manifest:
    """A decoded manifest: what a :class:`~caudal.checkpoint.contents.Checkpoint` holds besides its stages."""

    format_version: int
    case_fingerprint: bytes
    options_fingerprint: bytes
    case: SavedCase
    options: SavedOptions
    iteration: int
    rng_seed: int
    rng_next_iteration: int
    history: SavedHistory
    writer: WriterInfo
    shards: tuple[ShardEntry, ...]
    warm_start: str = ""


def encode_manifest(
    state: TrainingState, options: TrainingOptions, layout: dict, shards: list[ShardEntry]
) -> memoryview:
    """The FlatBuffer payload of the manifest of ``state``'s checkpoint directory."""
    builder = flatbuffers.Builder(4096 + 128 * len(shards) + 64 * len(state.history))
    header = checkpoint_header(builder, state, options)
    entries = _tables(builder, [_entry(builder, entry) for entry in shards], fb.CheckpointStartShardsVector)
    empty = [_tables(builder, [], start) for start in (
        fb.CheckpointStartCutPoolsVector, fb.CheckpointStartBasesVector, fb.CheckpointStartVisitedStatesVector)]
    checkpoint = finish_checkpoint(builder, header, state, options, layout, (empty[0], empty[1], empty[2]), entries)
    builder.Finish(checkpoint, file_identifier=b"CDCK")
    return memoryview(builder.Bytes)[builder.Head() :]


def _entry(builder: flatbuffers.Builder, entry: ShardEntry) -> int:
    plan = entry.plan
    name = builder.CreateString(plan.file_name)
    digest = _vector(builder, np.frombuffer(entry.payload_digest, np.uint8), "u1")
    fb.ShardEntryStart(builder)
    fb.ShardEntryAddFileName(builder, name)
    fb.ShardEntryAddStage(builder, plan.stage)
    fb.ShardEntryAddPart(builder, plan.part)
    fb.ShardEntryAddFirstCut(builder, plan.first_cut)
    fb.ShardEntryAddNCuts(builder, plan.n_cuts)
    fb.ShardEntryAddFirstVisited(builder, plan.first_visited)
    fb.ShardEntryAddNVisited(builder, plan.n_visited)
    fb.ShardEntryAddFileSize(builder, entry.file_size)
    fb.ShardEntryAddPayloadDigest(builder, digest)
    fb.ShardEntryAddRank(builder, entry.rank)
    return fb.ShardEntryEnd(builder)


def decode_manifest(payload: memoryview, format_version: int) -> Manifest:
    """Decode a verified manifest payload; raises ``decode._Problem`` when it is inconsistent."""
    _require(fb.Checkpoint.CheckpointBufferHasIdentifier(payload, 0), "missing file identifier 'CDCK'")
    root = fb.Checkpoint.GetRootAs(payload, 0)
    _require(root.FormatVersion() == format_version,
             f"payload says format {root.FormatVersion()}, header says {format_version}")
    case_table = root.CaseSummary()
    _require(case_table is not None, "no case summary")
    case = _case(case_table)
    iteration = int(root.Iteration())
    rng = root.Rng()
    _require(rng is not None, "no RNG state")
    history = _history(root.History())
    _require(len(history) == iteration, f"{len(history)} history rows for {iteration} iterations")
    _require(root.CutPoolsLength() == 0 and root.BasesLength() == 0 and root.VisitedStatesLength() == 0,
             "stage tables in a manifest (a single-file checkpoint named manifest?)")
    shards = tuple(_shard_entry(root.Shards(k)) for k in range(root.ShardsLength()))
    _check_covers_every_stage(shards, case.n_stages)
    return Manifest(
        format_version=format_version,
        case_fingerprint=_array(root.CaseFingerprintAsNumpy(), "u1").tobytes(),
        options_fingerprint=_array(root.OptionsFingerprintAsNumpy(), "u1").tobytes(),
        case=case,
        options=_options(root.Options()),
        iteration=iteration,
        rng_seed=int(rng.Seed()),
        rng_next_iteration=int(rng.NextIteration()),
        history=history,
        writer=_writer(root.Writer()),
        shards=shards,
        warm_start=_text(root.WarmStart()),
    )


def _shard_entry(table: object) -> ShardEntry:
    plan = ShardPlan(int(table.Stage()), int(table.Part()), int(table.FirstCut()), int(table.NCuts()),
                     int(table.FirstVisited()), int(table.NVisited()))
    name = _text(table.FileName())
    _require(name == plan.file_name, f"stage file {name!r} should be named {plan.file_name!r}")
    _require(os.path.basename(name) == name, f"stage file name {name!r} is not a plain file name")
    digest = _array(table.PayloadDigestAsNumpy(), "u1").tobytes()
    _require(len(digest) == 16, f"stage file {name}: a digest of {len(digest)} bytes")
    return ShardEntry(plan, int(table.FileSize()), digest, int(table.Rank()))


def _check_covers_every_stage(shards: tuple[ShardEntry, ...], n_stages: int) -> None:
    """Parts 0, 1, ... of stages 0, 1, ..., each starting where the one before ended."""
    expected_stage, expected_part, next_cut, next_row = 0, 0, 0, 0
    for entry in shards:
        plan = entry.plan
        if plan.stage == expected_stage + 1 and plan.part == 0 and expected_part > 0:
            expected_stage, expected_part, next_cut, next_row = expected_stage + 1, 0, 0, 0
        _require(
            (plan.stage, plan.part, plan.first_cut, plan.first_visited)
            == (expected_stage, expected_part, next_cut, next_row),
            f"stage file {plan.file_name} is out of order (expected stage {expected_stage} part {expected_part})",
        )
        _require(plan.n_cuts >= 0 and plan.n_visited >= 0, f"stage file {plan.file_name}: negative counts")
        expected_part, next_cut, next_row = expected_part + 1, next_cut + plan.n_cuts, next_row + plan.n_visited
    _require(expected_stage == n_stages - 1 and expected_part > 0,
             f"the stage files cover {expected_stage + (expected_part > 0)} of {n_stages} stages")
