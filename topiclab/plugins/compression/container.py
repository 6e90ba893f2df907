"""The ``.tlz`` file: a compact binary header that lets decompression refuse what it cannot restore.

    from topiclab.plugins.compression.container import Header, pack, unpack, FormatError
    blob = pack(header, codes); header, codes = unpack(blob)   # FormatError: one line

Layout (format version 3; integers as unsigned LEB128 varints, so a small number is one byte):

    magic "TLZ" NUL | version (u16) | flags (u8: 1 = online) | tokenizer (u8: 0 = bytes)
    | original length | original's SHA-256 (32 bytes) | thread count
    | a model: its hash (32 bytes), chunk size, chunks coded together (a group), bytes kept
      when a full cache restarts (0: it slides), then each
      chunk's code size (their number follows from the length and the chunk size)
    | online: the recipe (its fields in ``RECIPE`` order; the learning rate a float64),
      then the size of the one code stream every row was coded into
    | CRC-32 of everything above | the codes

Nothing is stored that the rest determines (no per-chunk lengths, no field names): on the
online mode's 100 KB plays the container is ~70 bytes where version 2's JSON header and
4-byte chunk table were ~2.7 KB. Every field is checked when read: a damaged header fails
the CRC, a truncated or padded file the sizes, damaged codes the SHA-256 after decoding.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"TLZ\x00"
# 3: binary varint header, one code stream online, a sliding window (2: JSON, refills)
VERSION = 3
_FIXED = struct.Struct(">4sH")  # magic, version: the same 6 bytes in every version
ONLINE = "online"  # the model hash of an --online file: there is no model
TOKENIZERS: dict[int, dict[str, object]] = {0: {"kind": "byte"}}
# The online recipe's fields in file order: "u" a varint, "f" a float64.
RECIPE = (
    ("dim", "u"), ("n_layers", "u"), ("n_heads", "u"), ("n_kv_heads", "u"), ("window", "u"),
    ("block", "u"), ("row", "u"), ("steps", "u"), ("batch", "u"), ("memory", "u"),
    ("lr", "f"), ("seed", "u"),
)  # fmt: skip
_MAX_VARINT = 9  # bytes: values below 2**63


class FormatError(ValueError):
    """A file this version cannot restore; the message is one line for the user."""


@dataclass(frozen=True)
class Header:
    model_hash: str  # hex SHA-256 of the model's state dict, or ONLINE
    tokenizer: dict[str, object]
    length: int
    sha256: str
    threads: int
    chunk_size: int = 0  # a model's fields (0 online)
    batch: int = 0
    keep: int = 0  # 0: the model's window slides; k: a full cache restarts with k bytes
    online: dict[str, object] = field(default_factory=dict)  # the online mode's recipe, or {}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def n_chunks(length: int, chunk_size: int) -> int:
    return -(-length // chunk_size)


def varint(n: int) -> bytes:
    if not 0 <= n < 1 << 63:
        raise ValueError(f"{n} does not fit a varint")
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _tokenizer_code(tokenizer: dict[str, object]) -> int:
    for code, t in TOKENIZERS.items():
        if t == tokenizer:
            return code
    raise ValueError(f"tokenizer {tokenizer} has no code in the format")


def _recipe(online: dict[str, object]) -> bytes:
    if set(online) != {name for name, _ in RECIPE}:
        raise ValueError(f"the online recipe's fields {sorted(online)} are not the format's")
    values: dict[str, Any] = online  # numbers: a Recipe's fields
    return b"".join(
        struct.pack(">d", float(values[k])) if kind == "f" else varint(int(values[k]))
        for k, kind in RECIPE
    )


def pack(header: Header, codes: list[bytes]) -> bytes:
    """The file; ``codes``: one per chunk (a model) or the one stream (online)."""
    h = header
    out = bytearray(_FIXED.pack(MAGIC, VERSION))
    out += bytes([1 if h.online else 0, _tokenizer_code(h.tokenizer)])
    out += varint(h.length) + bytes.fromhex(h.sha256) + varint(h.threads)
    if h.online:
        out += _recipe(h.online) + varint(sum(map(len, codes)))
    else:
        out += bytes.fromhex(h.model_hash)
        out += b"".join(varint(v) for v in (h.chunk_size, h.batch, h.keep))
        out += b"".join(varint(len(c)) for c in codes)
    out += struct.pack(">I", zlib.crc32(out))
    return bytes(out) + b"".join(codes)


class _Reader:
    """Reads the header's fields; running out of bytes is a truncated file."""

    def __init__(self, blob: bytes, pos: int) -> None:
        self.blob, self.pos = blob, pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.blob):
            raise FormatError("corrupt or truncated file (header)")
        self.pos += n
        return self.blob[self.pos - n : self.pos]

    def uint(self, limit: int = 1 << 40) -> int:
        n = 0
        for i in range(_MAX_VARINT):
            b = self.take(1)[0]
            n |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                if n >= limit:
                    raise FormatError("corrupt header (a field is out of range)")
                return n
        raise FormatError("corrupt header (a varint runs on)")


def _read_model(r: _Reader, length: int) -> tuple[dict[str, object], list[int]]:
    model_hash = r.take(32).hex()
    chunk_size, batch, keep = (r.uint(1 << 31) for _ in range(3))
    if min(chunk_size, batch) < 1:
        raise FormatError("corrupt header (a field is out of range)")
    n = n_chunks(length, chunk_size)
    if n > len(r.blob) - r.pos:  # each size takes at least a byte
        raise FormatError("corrupt or truncated file (chunk table)")
    fields: dict[str, object] = {"model_hash": model_hash, "chunk_size": chunk_size}
    return fields | {"batch": batch, "keep": keep}, [r.uint() for _ in range(n)]


def _read_online(r: _Reader) -> tuple[dict[str, object], list[int]]:
    recipe = {
        k: struct.unpack(">d", r.take(8))[0] if kind == "f" else r.uint(1 << 63)
        for k, kind in RECIPE
    }
    return {"model_hash": ONLINE, "online": recipe}, [r.uint()]


def unpack(blob: bytes) -> tuple[Header, list[bytes]]:
    if len(blob) < _FIXED.size or blob[:4] != MAGIC:
        raise FormatError("not a topiclab .tlz file (bad magic number)")
    _, version = _FIXED.unpack_from(blob)
    if version != VERSION:
        raise FormatError(f"format version {version}; this topiclab reads version {VERSION}")
    r = _Reader(blob, _FIXED.size)
    flags, tok = r.take(2)
    length, digest, threads = r.uint(), r.take(32).hex(), r.uint(1025)
    if flags > 1:
        raise FormatError(f"corrupt header (flags {flags})")
    fields, sizes = _read_online(r) if flags else _read_model(r, length)
    (crc,) = struct.unpack(">I", r.take(4))
    if crc != zlib.crc32(blob[: r.pos - 4]):
        raise FormatError("corrupt header (checksum mismatch)")
    if tok not in TOKENIZERS:
        raise FormatError(f"tokenizer code {tok} is not supported")
    if threads < 1:
        raise FormatError("corrupt header (a field is out of range)")
    if r.pos + sum(sizes) != len(blob):
        raise FormatError(
            f"corrupt or truncated file ({len(blob)} bytes, expected {r.pos + sum(sizes)})"
        )
    codes, pos = [], r.pos
    for s in sizes:
        codes.append(blob[pos : pos + s])
        pos += s
    header = Header(tokenizer=TOKENIZERS[tok], length=length, sha256=digest, threads=threads,
                    **fields)  # type: ignore[arg-type]  # fmt: skip
    return header, codes
