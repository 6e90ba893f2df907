"""Online (prequential) LM compression, in the spirit of NNCP: no pretrained weights.

    from topiclab.nn.online_codec import Recipe, encode_online, decode_online
    codes, lengths, ideal = encode_online(data, Recipe())
    assert decode_online([c.data for c in codes], lengths, Recipe()) == data

A small Llama starts from the recipe's seed. The data are coded in blocks (1 KB, 2 KB, 4 KB,
then ``block`` bytes each: a random model codes the first block at ~8 bits/byte, so it is
short); each block is coded by ``lm_codec`` with the weights trained on the blocks before it
only (its rows in parallel, each without history), then the model takes ``steps`` AdamW steps
on windows drawn from the bytes seen so far. The decoder decodes a block with the same weights
and replays the same training on the same bytes (seeded draws, the same thread count), so its
weights stay bit-identical. The code length is Rae's prequential code length: every byte is
scored before any update that uses it; the weights are never sent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from topiclab.nn.arithmetic_coder import Code
from topiclab.nn.llama import ModelArgs, Transformer
from topiclab.nn.lm_codec import Progress, decode_chunks, encode_chunks, split_chunks
from topiclab.nn.threads import torch_threads

FIRST_BLOCK = 1024


@dataclass(frozen=True)
class Recipe:
    """Everything the decoder needs to replay the training (stored in the file's header)."""

    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2
    window: int = 64
    block: int = 8192  # bytes coded with one set of weights, once the blocks have grown
    row: int = 512  # a block's rows are coded in parallel
    steps: int = 40  # AdamW steps after each block
    batch: int = 16  # windows per step
    memory: int = 65_536  # windows are drawn from the last `memory` bytes seen
    lr: float = 2e-3
    seed: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def model(self) -> Transformer:
        torch.manual_seed(self.seed)
        args = ModelArgs(
            dim=self.dim,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            n_kv_heads=self.n_kv_heads,
            vocab_size=256,
            multiple_of=16,
            max_seq_len=self.window,
        )
        return Transformer(args)


def blocks(n: int, recipe: Recipe) -> list[int]:
    """Block lengths: 1 KB, doubling up to ``recipe.block``, summing to ``n``."""
    out, size = [], min(FIRST_BLOCK, recipe.block)
    while n > 0:
        out.append(min(size, n))
        n -= out[-1]
        size = min(2 * size, recipe.block)
    return out


def _train(
    model: Transformer, opt: torch.optim.Optimizer, seen: np.ndarray, k: int, r: Recipe
) -> None:
    """``r.steps`` AdamW steps on windows of the last ``r.memory`` bytes (block ``k``'s draws)."""
    hist = seen[-r.memory :]
    seq = min(r.window, len(hist) - 1)
    if seq < 1:
        return
    rng = np.random.default_rng([r.seed, k])
    model.train()
    for _ in range(r.steps):
        starts = rng.integers(0, len(hist) - seq, size=r.batch)
        xy = torch.from_numpy(np.stack([hist[s : s + seq + 1] for s in starts]).astype(np.int64))
        logits = model(xy[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 256), xy[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()


def _rows(block_len: int, r: Recipe) -> list[int]:
    return [min(r.row, block_len - i) for i in range(0, block_len, r.row)]


def encode_online(
    data: bytes, r: Recipe, threads: int = 1, progress: Progress | None = None
) -> tuple[list[Code], list[int], float]:
    """Codes of every block's rows, their lengths, and the prequential Σ −log2 q in bits."""
    model = r.model()
    opt = torch.optim.AdamW(model.parameters(), lr=r.lr)
    seen = np.frombuffer(data, dtype=np.uint8)
    codes: list[Code] = []
    ideal, pos = 0.0, 0
    with torch_threads(threads):
        for k, n in enumerate(blocks(len(data), r)):
            rows = split_chunks(data[pos : pos + n], r.row)
            c, bits = encode_chunks(model, rows, threads, progress, len(rows), r.window // 2)
            codes, ideal, pos = codes + c, ideal + bits, pos + n
            if pos < len(data):  # no block is left to use training after the last one
                _train(model, opt, seen[:pos], k, r)
    return codes, [len(row) for row in split_rows(len(data), r)], ideal


def split_rows(n: int, r: Recipe) -> list[range]:
    """The rows of every block, in coding order (what the chunk table lists)."""
    out, pos = [], 0
    for b in blocks(n, r):
        for length in _rows(b, r):
            out.append(range(pos, pos + length))
            pos += length
    return out


def steps_total(n: int, r: Recipe) -> int:
    """One-token coding steps over all blocks (what a progress bar counts)."""
    return sum(max(_rows(b, r)) for b in blocks(n, r))


def decode_online(
    codes: list[bytes],
    lengths: list[int],
    r: Recipe,
    threads: int = 1,
    progress: Progress | None = None,
) -> bytes:
    total = sum(lengths)
    if lengths != [len(row) for row in split_rows(total, r)]:
        raise ValueError("the chunk table does not match the recipe's blocks")
    model = r.model()
    opt = torch.optim.AdamW(model.parameters(), lr=r.lr)
    out = bytearray()
    i = 0
    with torch_threads(threads):
        for k, n in enumerate(blocks(total, r)):
            m = len(_rows(n, r))
            rows = decode_chunks(
                model, codes[i : i + m], lengths[i : i + m], threads, progress, m, r.window // 2
            )
            out += b"".join(rows)
            i += m
            if len(out) < total:
                _train(model, opt, np.frombuffer(bytes(out), dtype=np.uint8), k, r)
    return bytes(out)
