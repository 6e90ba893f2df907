"""A byte-level language model as a lossless compressor: chunks coded in a batch.

    from topiclab.nn.lm_codec import encode_chunks, decode_chunks, split_chunks
    chunks = split_chunks(data, 2048)                   # each coded without history
    codes, ideal_bits = encode_chunks(model, chunks, threads=1)
    assert decode_chunks(model, codes, [len(c) for c in chunks], threads=1) == chunks

Encoder and decoder run one loop (``_run``) and differ only in the callback that consumes a
step's tables: the encoder codes the known bytes, the decoder decodes them. So both compute the
probabilities with the same code path, batch layout, dtype and thread count:

- chunks are coded in groups of ``batch`` consecutive chunks (the file's header records it);
- step t feeds token t of every chunk in the group (a one-token forward of ``LeanLlama`` on
  its ring KV cache: byte t is predicted from the ``max_seq_len`` bytes before it, or all of
  them near the start) and gets the tables for byte t; a chunk shorter than the group's
  longest is padded with 0 on both sides; with ``keep`` ≥ 1 (the online mode) a full cache
  restarts instead with a prefill of the last ``keep`` bytes, on both sides alike; there is no
  other code path (never a full forward on
  one side and incremental decoding on the other);
- logits (float32) -> softmax in float64 -> integer counts (total 2**16, every byte ≥ 1).

Each chunk is primed with a newline (a byte the model has seen begin lines) rather than a BOS,
which the byte tokenizer lacks, so its first byte is predicted too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import torch

from topiclab.nn.arithmetic_coder import Code, Decoder, Encoder, cumulative, quantise
from topiclab.nn.llama import Transformer
from topiclab.nn.lm_infer import LeanLlama
from topiclab.nn.threads import torch_threads

PRIME = 10  # "\n"
BATCH = 256  # chunks coded together: a group's cache is 256 x 262 KB for the standard model
StepFn = Callable[[int, np.ndarray], np.ndarray]  # (t, cums (B, V+1)) -> bytes t (B,)
Progress = Callable[[int], None]  # called with the number of steps just done


def split_chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def model_hash(model: torch.nn.Module) -> str:
    """SHA-256 of the state dict (names, dtypes, shapes, bytes): stable across re-saves."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _tables(logits: torch.Tensor) -> np.ndarray:
    probs = torch.softmax(logits.double(), dim=-1).numpy()
    return cumulative(quantise(probs))


def groups(n_chunks: int, batch: int) -> list[range]:
    """The rows coded together: consecutive chunks, ``batch`` at a time (both sides alike)."""
    return [range(i, min(i + batch, n_chunks)) for i in range(0, n_chunks, max(1, batch))]


def total_steps(lengths: list[int], batch: int) -> int:
    """One-token steps over all groups (what a progress bar counts)."""
    return sum(max((lengths[i] for i in g), default=0) for g in groups(len(lengths), batch))


def _run(
    net: LeanLlama,
    lengths: list[int],
    keep: int,
    step: StepFn,
    progress: Progress | None = None,
) -> None:
    """The shared loop over one group: tables for byte t of every row from the bytes before it.

    ``keep`` 0: the ring cache slides (``LeanLlama.step`` at every position). ``keep`` ≥ 1:
    a full cache (``max_seq_len`` tokens) restarts with a prefill of the last ``keep`` bytes.
    """
    n_steps = max(lengths)
    rows = np.zeros((len(lengths), n_steps + 1), dtype=np.int64)
    rows[:, 0] = PRIME
    pos = 0  # the position of token t since the last restart
    for t in range(n_steps):
        if keep and pos == net.window:
            logits = net.prefill(torch.from_numpy(rows[:, t + 1 - keep : t + 1]))
            pos = keep
        else:
            logits = net.step(torch.from_numpy(rows[:, t]), pos)
            pos += 1
        rows[:, t + 1] = step(t, _tables(logits))
        if progress is not None:
            progress(1)


def _check(model: Transformer, batch: int, keep: int) -> None:
    window = int(model.params.max_seq_len)
    if not 0 <= keep < window or batch < 1:
        raise ValueError(f"need 0 <= keep ({keep}) < window ({window}) and batch ({batch}) >= 1")


def _encode_group(
    model: Transformer,
    chunks: list[bytes],
    encoders: list[Encoder],
    keep: int,
    prog: Progress | None,
) -> float:
    """Code one group's chunks into their encoders; Σ −log2 q of their bytes."""
    lengths = [len(c) for c in chunks]
    data = np.zeros((len(chunks), max(lengths)), dtype=np.int64)
    for r, c in enumerate(chunks):
        data[r, : len(c)] = np.frombuffer(c, dtype=np.uint8)
    rows, ideal = np.arange(len(chunks)), [0.0]

    def step(t: int, cums: np.ndarray) -> np.ndarray:
        sym = data[:, t]
        lo, hi, tot = cums[rows, sym], cums[rows, sym + 1], cums[:, -1]
        live = [r for r, n in enumerate(lengths) if t < n]
        ideal[0] -= float(np.log2((hi - lo) / tot)[live].sum())
        lo_l, hi_l, tot_l = lo.tolist(), hi.tolist(), tot.tolist()
        for r in live:
            encoders[r].encode_interval(lo_l[r], hi_l[r], tot_l[r])
        return sym

    _run(LeanLlama(model, len(chunks)), lengths, keep, step, prog)
    return ideal[0]


def _decode_group(
    model: Transformer,
    decoders: list[Decoder],
    lengths: list[int],
    keep: int,
    prog: Progress | None,
) -> list[bytearray]:
    out = [bytearray() for _ in decoders]

    def step(t: int, cums: np.ndarray) -> np.ndarray:
        sym = np.zeros(len(decoders), dtype=np.int64)
        for r, n in enumerate(lengths):
            if t < n:
                sym[r] = decoders[r].decode(cums[r])
                out[r].append(int(sym[r]))
        return sym

    _run(LeanLlama(model, len(decoders)), lengths, keep, step, prog)
    return out


def encode_into(
    model: Transformer,
    chunks: list[bytes],
    encoders: list[Encoder],
    threads: int = 1,
    progress: Progress | None = None,
    batch: int = BATCH,
    keep: int = 0,
) -> float:
    """Code chunk i into ``encoders[i]``; Σ −log2 q over all bytes under the quantised tables.

    One encoder may stand for many chunks (the online mode's single stream): a step codes its
    rows in row order, and ``decode_from`` with the matching decoder list reads them back in
    the same order, since every row's table for step t is known before any byte t is decoded.
    """
    _check(model, batch, keep)
    ideal = 0.0
    with torch_threads(threads), torch.inference_mode():
        for g in groups(len(chunks), batch):
            part = [chunks[i] for i in g]
            if max(map(len, part), default=0):
                ideal += _encode_group(
                    model.eval(), part, encoders[g.start : g.stop], keep, progress
                )
    return ideal


def encode_chunks(
    model: Transformer,
    chunks: list[bytes],
    threads: int = 1,
    progress: Progress | None = None,
    batch: int = BATCH,
    keep: int = 0,
) -> tuple[list[Code], float]:
    """One code per chunk, and Σ −log2 q over all bytes under the quantised tables."""
    encoders = [Encoder() for _ in chunks]
    ideal = encode_into(model, chunks, encoders, threads, progress, batch, keep)
    return [e.finish() for e in encoders], ideal


def decode_from(
    model: Transformer,
    decoders: list[Decoder],
    lengths: list[int],
    threads: int = 1,
    progress: Progress | None = None,
    batch: int = BATCH,
    keep: int = 0,
) -> list[bytes]:
    """Chunk i (``lengths[i]`` bytes) from ``decoders[i]``: ``encode_into``'s inverse."""
    _check(model, batch, keep)
    out: list[bytes] = []
    with torch_threads(threads), torch.inference_mode():
        for g in groups(len(decoders), batch):
            sizes = [lengths[i] for i in g]
            if not max(sizes, default=0):
                out += [b""] * len(g)
                continue
            part = decoders[g.start : g.stop]
            out += map(bytes, _decode_group(model.eval(), part, sizes, keep, progress))
    return out


def decode_chunks(
    model: Transformer,
    codes: list[bytes],
    lengths: list[int],
    threads: int = 1,
    progress: Progress | None = None,
    batch: int = BATCH,
    keep: int = 0,
) -> list[bytes]:
    decoders = [Decoder(c) for c in codes]
    return decode_from(model, decoders, lengths, threads, progress, batch, keep)
