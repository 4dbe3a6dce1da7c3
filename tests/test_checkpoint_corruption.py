"""Damaged or foreign files: a clear error naming the file and the problem, never a crash.

Truncation, flipped bytes, wrong magic and a future format version each raise a
:class:`CheckpointError` whose message names the file; a payload whose
checksum was forged still cannot crash the reader; and ``latest_valid`` falls
back to the previous good checkpoint and says which files it skipped and why.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np
import pytest
from test_checkpoint_cases import trained_state, two_reservoirs

from caudal.checkpoint import (
    READS_UP_TO,
    CheckpointError,
    inspect_checkpoint,
    latest_valid,
    load_latest,
    read_checkpoint,
    write_checkpoint,
)
from caudal.checkpoint.framing import HEADER_SIZE, MAGIC, encode_header
from caudal.sddp.training import TrainingOptions

OPTIONS = TrainingOptions(iterations=3, forward_passes=2, seed=3)


@pytest.fixture(scope="module")
def state():
    return trained_state(two_reservoirs(stages=4), OPTIONS)


@pytest.fixture
def good(tmp_path, state):
    """A valid checkpoint file and its bytes."""
    path = write_checkpoint(tmp_path, state, OPTIONS)
    return path, path.read_bytes()


def _error(path) -> CheckpointError:
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(path)
    error = caught.value
    assert str(path) in str(error), "the message must name the file"
    assert error.path == path
    return error


@pytest.mark.parametrize("keep", [0, 5, 12, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 100, -1])
def test_truncated(good, keep):
    path, data = good
    path.write_bytes(data[: keep if keep >= 0 else len(data) + keep])
    error = _error(path)
    assert error.kind == "truncated" and "truncated" in str(error)


def test_trailing_bytes(good):
    path, data = good
    path.write_bytes(data + b"\0" * 8)
    error = _error(path)
    assert error.kind == "trailing" and "8 extra bytes" in str(error)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.37, 0.5, 0.8, 0.999])
def test_flipped_payload_byte(good, fraction):
    path, data = good
    position = HEADER_SIZE + int(fraction * (len(data) - HEADER_SIZE - 1))
    damaged = bytearray(data)
    damaged[position] ^= 0x10
    path.write_bytes(bytes(damaged))
    error = _error(path)
    assert error.kind == "checksum" and "bad checksum" in str(error)


@pytest.mark.parametrize("position", [8, 12, 16, 20, 24, 39, 40, 44, 47])
def test_flipped_header_byte(good, position):
    path, data = good
    damaged = bytearray(data)
    damaged[position] ^= 0x01
    path.write_bytes(bytes(damaged))
    error = _error(path)
    assert error.kind in ("header", "truncated"), error
    assert "corrupt header" in str(error) or "truncated" in str(error)


@pytest.mark.parametrize("content", [b"stage,cut_id\n0,0\n", b"\x89PNG\r\n\x1a\n" + bytes(100), MAGIC[:3] + b"X"])
def test_wrong_magic(tmp_path, content):
    path = tmp_path / "checkpoint-00000001.caudal"
    path.write_bytes(content)
    error = _error(path)
    assert error.kind == "magic" and "not a caudal checkpoint" in str(error)


def test_payload_without_its_header_is_not_taken_for_a_checkpoint(good):
    path, data = good
    path.write_bytes(data[HEADER_SIZE:])
    assert _error(path).kind == "magic"


def _reframe(payload: bytes, version: int) -> bytes:
    """A header for ``payload`` claiming ``version``, with every checksum right."""
    header = bytearray(encode_header(payload))
    header[8:12] = struct.pack("<I", version)
    header[44:48] = struct.pack("<I", zlib.crc32(bytes(header[:44])))
    return bytes(header) + payload


def test_future_format_version(good):
    path, data = good
    path.write_bytes(_reframe(data[HEADER_SIZE:], READS_UP_TO + 1))
    error = _error(path)
    assert error.kind == "version"
    assert f"written by a newer caudal: format {READS_UP_TO + 1}, this caudal reads up to {READS_UP_TO}" in str(error)


def test_missing_file(tmp_path):
    error = _error(tmp_path / "checkpoint-00000009.caudal")
    assert error.kind == "missing"


def test_forged_checksums_never_crash_the_reader(good):
    """Damage the payload, then fix the checksums: decoding must fail cleanly or succeed."""
    path, data = good
    payload = data[HEADER_SIZE:]
    rng = np.random.default_rng(0)
    outcomes = {"decoded": 0, "refused": 0}
    for _ in range(60):
        damaged = bytearray(payload)
        for position in rng.integers(0, len(payload), size=int(rng.integers(1, 4))):
            damaged[position] = int(rng.integers(0, 256))
        path.write_bytes(_reframe(bytes(damaged), 1))
        try:
            read_checkpoint(path)
            outcomes["decoded"] += 1
        except CheckpointError as error:
            assert error.kind == "payload" and str(path) in str(error)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0
    path.write_bytes(_reframe(bytes(rng.integers(0, 256, size=len(payload), dtype=np.uint8)), 1))
    assert _error(path).kind == "payload"


def test_inspect_refuses_a_damaged_file(good):
    path, data = good
    path.write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        inspect_checkpoint(path)


def test_latest_valid_falls_back_and_says_so(tmp_path, state):
    def at(iteration: int):
        return dataclasses.replace(state, iteration=iteration, history=state.history[:iteration])

    paths = [write_checkpoint(tmp_path, at(i), OPTIONS, keep=5) for i in (1, 2, 3)]
    assert latest_valid(tmp_path) == (paths[2], [])
    newest = bytearray(paths[2].read_bytes())
    newest[-3] ^= 0xFF
    paths[2].write_bytes(bytes(newest))
    paths[1].write_bytes(paths[1].read_bytes()[:100])
    (tmp_path / ".checkpoint-abc123.tmp").write_bytes(b"partial")
    (tmp_path / "checkpoint-00000004.caudal.tmp").write_bytes(b"also not a checkpoint")
    found, warnings = latest_valid(tmp_path)
    assert found == paths[0]
    text = "\n".join(warnings)
    assert f"skipped {paths[2]}: bad checksum" in text
    assert f"skipped {paths[1]}: truncated" in text
    assert ".checkpoint-abc123.tmp" in text and "unfinished temporary" in text
    assert f"falling back to the previous good checkpoint {paths[0]} (iteration 1)" in text
    checkpoint, _ = load_latest(tmp_path)
    assert checkpoint is not None and checkpoint.iteration == 1
    paths[0].write_bytes(b"")
    found, warnings = latest_valid(tmp_path)
    assert found is None and "no valid checkpoint" in warnings[-1]


def test_latest_valid_in_a_missing_or_empty_directory(tmp_path):
    assert latest_valid(tmp_path / "nowhere")[0] is None
    found, warnings = latest_valid(tmp_path)
    assert found is None and warnings == [f"{tmp_path}: no valid checkpoint"]
