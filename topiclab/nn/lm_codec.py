"""A byte-level language model as a lossless compressor: chunks coded in a batch.

    from topiclab.nn.lm_codec import encode_chunks, decode_chunks, split_chunks
    chunks = split_chunks(data, 2048)                   # each coded without history
    codes, ideal_bits = encode_chunks(model, chunks, threads=1)
    assert decode_chunks(model, codes, [len(c) for c in chunks], threads=1) == chunks

Encoder and decoder run one loop (``_run``) and differ only in the callback that consumes a
step's tables: the encoder codes the known bytes, the decoder decodes them. So both compute the
probabilities with the same code path, batch layout, dtype and thread count:

- step t feeds token t of every chunk (a KV-cached one-token forward) and gets the tables for
  byte t; chunks shorter than the longest are padded with 0 on both sides;
- when the cache is full (the model's context, ``max_seq_len``) it is refilled with a prefill of
  the last half-window of known bytes, on both sides alike (never a full forward on one side
  and incremental decoding on the other);
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
from topiclab.nn.threads import torch_threads

PRIME = 10  # "\n"
StepFn = Callable[[int, np.ndarray], np.ndarray]  # (t, cums (B, V+1)) -> bytes t (B,)
Progress = Callable[[int], None]


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


def _run(
    model: Transformer,
    n_rows: int,
    n_steps: int,
    step: StepFn,
    progress: Progress | None = None,
) -> None:
    """The shared loop: tables for byte t of every row from the bytes before it."""
    window = int(model.params.max_seq_len)
    rows = np.zeros((n_rows, n_steps + 1), dtype=np.int64)
    rows[:, 0] = PRIME
    model.setup_cache(batch_size=max(1, n_rows), max_seq_len=window)
    cache_len = 0
    try:
        for t in range(n_steps):
            if t == 0 or cache_len + 1 > window:
                start = max(0, t + 1 - max(1, window // 2))
                x = torch.from_numpy(rows[:, start : t + 1])
                logits = model(x, start_pos=0, last_only=True)
                cache_len = t + 1 - start
            else:
                x = torch.from_numpy(rows[:, t : t + 1])
                logits = model(x, start_pos=cache_len, last_only=True)
                cache_len += 1
            rows[:, t + 1] = step(t, _tables(logits[:, -1]))
            if progress is not None:
                progress(t + 1)
    finally:
        model.clear_cache()


def encode_chunks(
    model: Transformer, chunks: list[bytes], threads: int = 1, progress: Progress | None = None
) -> tuple[list[Code], float]:
    """One code per chunk, and Σ −log2 q over all bytes under the quantised tables."""
    encoders = [Encoder() for _ in chunks]
    n_steps = max((len(c) for c in chunks), default=0)
    ideal = [0.0]

    def step(t: int, cums: np.ndarray) -> np.ndarray:
        out = np.zeros(len(chunks), dtype=np.int64)
        for b, chunk in enumerate(chunks):
            if t < len(chunk):
                s = chunk[t]
                encoders[b].encode(s, cums[b])
                ideal[0] -= np.log2((cums[b, s + 1] - cums[b, s]) / cums[b, -1])
                out[b] = s
        return out

    if chunks and n_steps:
        with torch_threads(threads), torch.inference_mode():
            _run(model.eval(), len(chunks), n_steps, step, progress)
    return [e.finish() for e in encoders], ideal[0]


def decode_chunks(
    model: Transformer,
    codes: list[bytes],
    lengths: list[int],
    threads: int = 1,
    progress: Progress | None = None,
) -> list[bytes]:
    decoders = [Decoder(c) for c in codes]
    out = [bytearray() for _ in codes]
    n_steps = max(lengths, default=0)

    def step(t: int, cums: np.ndarray) -> np.ndarray:
        sym = np.zeros(len(codes), dtype=np.int64)
        for b, n in enumerate(lengths):
            if t < n:
                sym[b] = decoders[b].decode(cums[b])
                out[b].append(int(sym[b]))
        return sym

    if codes and n_steps:
        with torch_threads(threads), torch.inference_mode():
            _run(model.eval(), len(codes), n_steps, step, progress)
    return [bytes(o) for o in out]
