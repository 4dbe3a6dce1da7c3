"""The fixed header in front of every checkpoint's FlatBuffer payload.

FlatBuffers has no checksum and the Python runtime has no verifier, so a file
cut short by a crash or damaged on disk could decode into garbage. The header
lets a reader reject such files before touching the payload, and say why::

    offset size field
    0      8    magic           b"\\x89CAUDAL\\n" (not text, not a FlatBuffer)
    8      4    format_version  uint32, little-endian
    12     4    header_size     uint32: where the payload starts (48 in version 1)
    16     8    payload_length  uint64
    24     16   payload_digest  blake2b (16-byte digest) of the payload
    40     4    flags           uint32: bit 0 set = the digest is SHA-256's first 16 bytes
    44     4    header_crc      crc32 of bytes 0 .. header_size - 4

Magic, version and header size keep their places in every future version, and
the header's crc32 always sits in its last four bytes, so a reader can tell a
damaged header from a file written by a newer caudal.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from dataclasses import dataclass

from caudal.checkpoint.errors import CheckpointError

MAGIC = b"\x89CAUDAL\n"
FORMAT_VERSION = 1
"""The format this caudal writes."""
READS_UP_TO = 1
"""The newest format this caudal can read."""

_HEADER = struct.Struct("<8sIIQ16sII")
HEADER_SIZE = _HEADER.size
_PREFIX = struct.Struct("<8sII")  # the part whose layout never changes
_MAX_HEADER_SIZE = 4096
FLAG_SHA256 = 1
"""Header flag: ``payload_digest`` is SHA-256 (first 16 bytes), not blake2b.

The stage files of a checkpoint directory use it: SHA-256 runs two to three
times faster than blake2b where the CPU has SHA instructions, which matters
at gigabytes. Single-file checkpoints keep blake2b (flags 0), so that older
caudals still read them.
"""


@dataclass(frozen=True)
class Header:
    """The decoded header of a checkpoint file."""

    format_version: int
    header_size: int
    payload_length: int
    payload_digest: bytes
    flags: int = 0

    @property
    def file_size(self) -> int:
        return self.header_size + self.payload_length


def payload_digest(payload: bytes | bytearray | memoryview, flags: int = 0) -> bytes:
    """The checksum stored in the header: blake2b (16 bytes), or SHA-256's first 16 with :data:`FLAG_SHA256`."""
    hasher = payload_hasher(flags)
    hasher.update(payload)
    return hasher.digest()[:16]


def payload_hasher(flags: int = 0) -> hashlib._Hash:
    """A fresh hash object of the header's kind, for a payload hashed chunk by chunk as it is read."""
    return hashlib.sha256() if flags & FLAG_SHA256 else hashlib.blake2b(digest_size=16)


def encode_header(payload: bytes | bytearray | memoryview, flags: int = 0) -> bytes:
    """The header for ``payload`` in the current format."""
    return header_for(len(payload), payload_digest(payload, flags), flags)


def header_for(payload_length: int, digest: bytes, flags: int = 0) -> bytes:
    """The header of a payload of ``payload_length`` bytes whose digest was computed already.

    Writers that hash the payload while they write it (and so put the header
    in front of it last) build the very bytes :func:`encode_header` would.
    """
    body = _HEADER.pack(MAGIC, FORMAT_VERSION, HEADER_SIZE, payload_length, digest, flags, 0)
    crc = zlib.crc32(body[: HEADER_SIZE - 4])
    return body[: HEADER_SIZE - 4] + struct.pack("<I", crc)


def decode_header(path: str | os.PathLike, data: bytes | memoryview, file_size: int) -> Header:
    """Check magic, header checksum, version and length; raise :class:`CheckpointError` if wrong.

    ``data`` holds at least the first ``min(file_size, 4096)`` bytes of the file.
    """
    if file_size == 0:
        raise CheckpointError(path, "empty file (truncated: no header)", "truncated")
    head = bytes(data[: len(MAGIC)])
    if head != MAGIC[: len(head)]:
        raise CheckpointError(path, f"not a caudal checkpoint: wrong magic bytes {head!r}, expected {MAGIC!r}", "magic")
    if file_size < _PREFIX.size:
        raise CheckpointError(
            path, f"truncated: {file_size} bytes, shorter than the {HEADER_SIZE}-byte header", "truncated"
        )
    _, version, header_size = _PREFIX.unpack_from(data, 0)
    if not _PREFIX.size + 4 <= header_size <= _MAX_HEADER_SIZE:
        raise CheckpointError(path, f"corrupt header: header size {header_size} is impossible", "header")
    if file_size < header_size:
        raise CheckpointError(
            path, f"truncated: {file_size} bytes, shorter than the {header_size}-byte header", "truncated"
        )
    (stored_crc,) = struct.unpack_from("<I", data, header_size - 4)
    if zlib.crc32(data[: header_size - 4]) != stored_crc:
        raise CheckpointError(path, "corrupt header: its crc32 does not match (damaged bytes)", "header")
    if version > READS_UP_TO:
        raise CheckpointError(
            path,
            f"written by a newer caudal: format {version}, this caudal reads up to {READS_UP_TO}",
            "version",
        )
    if version < 1 or header_size != HEADER_SIZE:
        raise CheckpointError(path, f"corrupt header: format {version} with header size {header_size}", "header")
    _, _, _, length, digest, flags, _ = _HEADER.unpack_from(data, 0)
    if flags & ~FLAG_SHA256:
        raise CheckpointError(path, f"corrupt header: unknown flags {flags:#x}", "header")
    header = Header(version, header_size, length, digest, flags)
    if file_size < header.file_size:
        raise CheckpointError(
            path,
            f"truncated: {file_size} bytes, the header promises {header.file_size} "
            f"({header.file_size - file_size} missing)",
            "truncated",
        )
    if file_size > header.file_size:
        raise CheckpointError(
            path,
            f"corrupt: {file_size} bytes, the header promises {header.file_size} "
            f"({file_size - header.file_size} extra bytes)",
            "trailing",
        )
    return header


def check_payload(path: str | os.PathLike, header: Header, payload: bytes | memoryview) -> None:
    """Compare the payload with the header's checksum."""
    check_digest(path, header, payload_digest(payload, header.flags))


def check_digest(path: str | os.PathLike, header: Header, digest: bytes) -> None:
    """Compare a payload's digest (computed by the caller, e.g. while reading it) with the header's."""
    if digest[:16] != header.payload_digest:
        kind = "SHA-256" if header.flags & FLAG_SHA256 else "blake2b"
        raise CheckpointError(
            path, f"bad checksum: the payload does not match the header's {kind} digest (corrupted)", "checksum"
        )
