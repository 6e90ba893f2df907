"""Compressors behind one interface: the classical baselines and adaptive order-k models.

    from topiclab.plugins.compression.compressors import classical, order_k, by_name
    for c in classical() + [order_k(k) for k in range(6)]:
        blob = c.compress(data); assert c.decompress(blob) == data

Each ``Compressor`` is a name, a ``compress(bytes) -> bytes`` and its inverse. The classical
settings are the issue's: gzip -9, bz2 -9, xz (default and -9e), zstd -19, brotli -11 and
PPMd (order 6, variant I, 16 MB: pyppmd's defaults, 7-Zip's text setting).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable
from dataclasses import dataclass

from topiclab.plugins.compression.config import MAX_ORDER
from topiclab.plugins.compression.context import decode_order_k, encode_order_k


@dataclass(frozen=True)
class Compressor:
    name: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]
    kind: str = "classical"  # classical | context | lm


def _zstd() -> Compressor:
    import zstandard

    return Compressor(
        "zstd -19",
        lambda d: zstandard.ZstdCompressor(level=19).compress(d),
        lambda b: zstandard.ZstdDecompressor().decompress(b),
    )


def _brotli() -> Compressor:
    import brotli

    return Compressor("brotli -11", lambda d: brotli.compress(d, quality=11), brotli.decompress)


def _ppmd() -> Compressor:
    import pyppmd

    def decompress(blob: bytes) -> bytes:
        out = pyppmd.decompress(blob)  # typed bytes | str: str only for str input
        return out if isinstance(out, bytes) else out.encode("utf-8")

    # ``compress`` writes PPMd's end mark, so the frame knows where it stops.
    return Compressor("PPMd", lambda d: pyppmd.compress(d, max_order=6), decompress)


def classical() -> list[Compressor]:
    xz9e = lzma.PRESET_EXTREME | 9
    return [
        Compressor("gzip -9", lambda d: gzip.compress(d, 9, mtime=0), gzip.decompress),
        Compressor("bz2 -9", lambda d: bz2.compress(d, 9), bz2.decompress),
        Compressor("xz", lzma.compress, lzma.decompress),
        Compressor("xz -9e", lambda d: lzma.compress(d, preset=xz9e), lzma.decompress),
        _zstd(),
        _brotli(),
        _ppmd(),
    ]


def order_k(k: int) -> Compressor:
    """Adaptive order-k context model (Witten-Bell blending of orders k..0) + our coder."""
    return Compressor(
        f"order-{k}",
        lambda d: encode_order_k(d, k),
        lambda b: decode_order_k(b, k),
        kind="context",
    )


def by_name(name: str) -> Compressor:
    known = {c.name: c for c in classical() + [order_k(k) for k in range(MAX_ORDER + 1)]}
    if name not in known:
        raise KeyError(f"unknown compressor {name!r}; choose from {', '.join(known)}")
    return known[name]
