"""Online (prequential) LM compression, in the spirit of NNCP: no pretrained weights.

    from topiclab.nn.online_codec import Recipe, encode_online, decode_online
    code, ideal = encode_online(data, Recipe())     # one stream, Σ −log2 q in bits
    assert decode_online(code.data, len(data), Recipe()) == data

A small Llama starts from the recipe's seed. The data are coded in blocks (1 KB, 2 KB, 4 KB,
then ``block`` bytes each: a random model codes the first block at ~8 bits/byte, so it is
short); each block is coded by ``lm_codec`` with the weights trained on the blocks before it
only (its rows in parallel, each without history), then the model takes ``steps`` AdamW steps
on windows drawn from the bytes seen so far. All rows of all blocks are coded into one
arithmetic-code stream (a step's rows in row order). The decoder decodes a block with the
same weights and replays the same training on the same bytes (seeded draws, the same thread
count), so its weights stay bit-identical. The code length is Rae's prequential code length:
every byte is scored before any update that uses it; the weights are never sent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from topiclab.nn.arithmetic_coder import Code, Decoder, Encoder
from topiclab.nn.llama import ModelArgs, Transformer
from topiclab.nn.lm_codec import Progress, decode_from, encode_into, split_chunks
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

    @property
    def keep(self) -> int:
        """A full cache restarts with half the window (measured better than a sliding one for
        this briefly trained model: 39.92 against 40.06 % on 100 KB of henry_v)."""
        return self.window // 2

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
) -> tuple[Code, float]:
    """One code stream for every block's rows, and the prequential Σ −log2 q in bits.

    One stream, not one per row: the rows' lengths follow from the data's length and the
    recipe, and the stream's end (a few bits) is paid once instead of once per row.
    """
    model = r.model()
    opt = torch.optim.AdamW(model.parameters(), lr=r.lr)
    seen = np.frombuffer(data, dtype=np.uint8)
    enc = Encoder()
    ideal, pos = 0.0, 0
    with torch_threads(threads):
        for k, n in enumerate(blocks(len(data), r)):
            rows = split_chunks(data[pos : pos + n], r.row)
            shared = [enc] * len(rows)
            ideal += encode_into(model, rows, shared, threads, progress, len(rows), r.keep)
            pos += n
            if pos < len(data):  # no block is left to use training after the last one
                _train(model, opt, seen[:pos], k, r)
    return enc.finish(), ideal


def steps_total(n: int, r: Recipe) -> int:
    """One-token coding steps over all blocks (what a progress bar counts)."""
    return sum(max(_rows(b, r)) for b in blocks(n, r))


def decode_online(
    code: bytes,
    total: int,
    r: Recipe,
    threads: int = 1,
    progress: Progress | None = None,
) -> bytes:
    """The ``total`` bytes ``encode_online`` coded into ``code`` with recipe ``r``."""
    model = r.model()
    opt = torch.optim.AdamW(model.parameters(), lr=r.lr)
    dec = Decoder(code)
    out = bytearray()
    with torch_threads(threads):
        for k, n in enumerate(blocks(total, r)):
            lengths = _rows(n, r)
            shared = [dec] * len(lengths)
            rows = decode_from(model, shared, lengths, threads, progress, len(lengths), r.keep)
            out += b"".join(rows)
            if len(out) < total:
                _train(model, opt, np.frombuffer(bytes(out), dtype=np.uint8), k, r)
    return bytes(out)
