"""The ``.tlz`` file: a header that lets decompression refuse anything it cannot restore.

    from topiclab.plugins.compression.container import Header, pack, unpack, FormatError
    blob = pack(header, codes); header, codes = unpack(blob)   # FormatError: one line

Layout: magic ``TLZ`` + NUL, format version (u16), header length (u32), the header as JSON
(model hash, tokenizer, original length and SHA-256, chunk size, thread count, chunks
coded together, context kept at a refill, ...), then one
u32 length per chunk and the chunks' codes. Every field is checked when read.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field

MAGIC = b"TLZ\x00"
VERSION = 2  # 2: chunks coded in groups of ``batch``, ``keep`` bytes kept at a refill
_FIXED = struct.Struct(">4sHI")  # magic, version, header length


class FormatError(ValueError):
    """A file this version cannot restore; the message is one line for the user."""


@dataclass(frozen=True)
class Header:
    model_hash: str
    tokenizer: dict[str, object]
    length: int
    sha256: str
    chunk_size: int
    threads: int
    batch: int
    keep: int
    chunk_lengths: list[int] = field(default_factory=list)
    online: dict[str, object] = field(default_factory=dict)  # the online mode's recipe, or {}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(header: Header, codes: list[bytes]) -> bytes:
    meta = json.dumps(asdict(header), sort_keys=True).encode()
    sizes = struct.pack(f">{len(codes)}I", *(len(c) for c in codes))
    return _FIXED.pack(MAGIC, VERSION, len(meta)) + meta + sizes + b"".join(codes)


def _check_types(h: Header) -> None:
    """A header that parses but holds the wrong kinds of values is corrupt, not a crash."""
    ints = [h.length, h.chunk_size, h.threads, h.batch, h.keep, *(h.chunk_lengths or [])]
    ok = (
        isinstance(h.model_hash, str)
        and isinstance(h.sha256, str)
        and isinstance(h.tokenizer, dict)
        and isinstance(h.chunk_lengths, list)
        and isinstance(h.online, dict)
        and all(type(v) is int and 0 <= v < 1 << 40 for v in ints)
        and 1 <= h.threads <= 1024
        and h.batch >= 1
        and h.keep >= 1
    )
    if not ok:
        raise FormatError("corrupt header (a field has the wrong type or range)")


def unpack(blob: bytes) -> tuple[Header, list[bytes]]:
    if len(blob) < _FIXED.size or blob[:4] != MAGIC:
        raise FormatError("not a topiclab .tlz file (bad magic number)")
    _, version, n_meta = _FIXED.unpack_from(blob)
    if version != VERSION:
        raise FormatError(f"format version {version}; this topiclab reads version {VERSION}")
    end = _FIXED.size + n_meta
    try:
        header = Header(**json.loads(blob[_FIXED.size : end]))
    except (ValueError, TypeError) as e:
        raise FormatError(f"corrupt or truncated header ({type(e).__name__})") from None
    _check_types(header)
    n = len(header.chunk_lengths)
    if sum(header.chunk_lengths) != header.length or end + 4 * n > len(blob):
        raise FormatError("corrupt or truncated file (chunk table)")
    sizes = struct.unpack_from(f">{n}I", blob, end)
    pos, codes = end + 4 * n, []
    for s in sizes:
        codes.append(blob[pos : pos + s])
        pos += s
    if pos != len(blob):
        raise FormatError(f"corrupt or truncated file ({len(blob)} bytes, expected {pos})")
    return header, codes
