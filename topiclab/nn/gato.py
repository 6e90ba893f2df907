"""Gato's model: the Llama decoder of ``llama.py`` fed with Gato's embeddings.

    from topiclab.nn.gato import GatoModel
    model = GatoModel(Transformer(ModelArgs(dim=128, n_layers=4, n_heads=4, vocab_size=2307)))
    model.set_images(patches)                   # [n_patches, p, p] float, referenced by index
    logits = model(x)                           # x: [batch, seq, 3] = id, local pos, patch index

Embedding of a token (Reed et al. 2022, sec. 2.2): a looked-up vector for text, discrete and
continuous ids; for an image patch, a single pre-activation ResNet block on the p×p pixels plus
learned row and column (in-image position) embeddings; then a learned *local* position
embedding (the token's index within its observation, one shared value for action tokens) is
added. The decoder's own RoPE gives the global position; the embeddings enter Llama's
``forward`` through its ``inputs_embeds`` argument.

The rows of the 1,024 continuous bins, in the input embedding and in the output head, start as
a smooth function of the bin's value (random projections of sines and cosines of it, the
scale of the other rows) rather than independent noise; they are trained like every row. With
independent rows a small model must learn each bin's place on the line from the few times it
sees it; smooth rows start with neighbouring bins alike, so what is learned on one bin carries
to its neighbours (measured in ``benchmarks/gato_pendulum.py``).

Not in Gato, ``value_features``: a continuous token's embedding also gets w·y, y its bin's
value in [-1, 1] and w one learned vector, so an observation's sign and size are linear in the
input from the first step; Gato learns each row's place on the line from far more data.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from topiclab.nn.gato_tokenizer import CONT_START, LOCAL_ACTION, N_BINS, N_LOCAL
from topiclab.nn.llama import Transformer


class PatchResNet(nn.Module):
    """p×p patch -> dim: a stem convolution, one ResNet v2 block (GroupNorm, GELU, conv, twice,
    plus the skip), flattened and projected."""

    def __init__(self, patch: int, dim: int, channels: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.block = nn.Sequential(
            nn.GroupNorm(1, channels),
            nn.GELU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(1, channels),
            nn.GELU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.proj = nn.Linear(channels * patch * patch, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x[:, None])
        h = h + self.block(h)
        return self.proj(h.flatten(1))


def smooth_rows(
    n: int, dim: int, std: float, gen: torch.Generator, octaves: int = 6
) -> torch.Tensor:
    """[n, dim] rows that vary smoothly with the value y in (-1, 1) of row i (a bin centre):
    sin and cos of π·f·y for frequencies f = 1, √2, 2, ..., 2^octaves, mixed by a random
    projection, with entries of standard deviation about ``std``."""
    y = (torch.arange(n) + 0.5) / n * 2 - 1
    freqs = 2.0 ** (torch.arange(2 * octaves) / 2)
    angles = math.pi * y[:, None] * freqs[None]
    feats = torch.cat([angles.sin(), angles.cos()], 1)
    proj = torch.randn(feats.shape[1], dim, generator=gen) * math.sqrt(2 / feats.shape[1])
    return feats @ proj * std


class GatoModel(nn.Module):
    """Gato's embeddings in front of a Llama ``Transformer``; logits over the whole id space."""

    def __init__(
        self,
        llama: Transformer,
        patch: int = 4,
        grid: int = 2,
        channels: int = 8,
        hide_continuous_actions: bool = False,
        value_features: bool = False,
    ) -> None:
        super().__init__()
        dim = llama.params.dim
        self.llama, self.params, self.grid = llama, llama.params, grid
        self.hide_continuous_actions = hide_continuous_actions
        self.patch_embed = PatchResNet(patch, dim, channels)
        self.row = nn.Embedding(grid, dim)
        self.col = nn.Embedding(grid, dim)
        self.local = nn.Embedding(N_LOCAL, dim)
        for emb in (self.row, self.col, self.local):
            nn.init.normal_(emb.weight, std=0.02)
        # not in Gato (module docstring): w·y for a continuous token of bin value y
        self.value: nn.Linear | None = nn.Linear(1, dim, bias=False) if value_features else None
        if self.value is not None:
            nn.init.normal_(self.value.weight, std=0.02)
        gen = torch.Generator().manual_seed(int(torch.randint(0, 2**31, ()).item()))
        with torch.no_grad():
            for table in (llama.tok_embeddings.weight, llama.output.weight):
                table[CONT_START : CONT_START + N_BINS] = smooth_rows(N_BINS, dim, 0.02, gen)
        self.images: torch.Tensor
        self.register_buffer("images", torch.zeros(0, patch, patch), persistent=False)

    def set_images(self, patches: torch.Tensor) -> None:
        """The pixel table that patch indices refer to (not part of the weights)."""
        self.images = patches.to(self.images.device, torch.float32)

    def clear_cache(self) -> None:
        self.llama.clear_cache()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        ids, local, patch = x[..., 0], x[..., 1], x[..., 2]
        h = self.llama.tok_embeddings(ids)
        is_patch = patch >= 0
        if bool(is_patch.any()):
            idx = patch[is_patch]
            # the in-image index of a patch is its observation position (local - 2)
            where = (local[is_patch] - 2).clamp(0, self.grid * self.grid - 1)
            e = self.patch_embed(self.images[idx]) + self.row(where // self.grid)
            h = h.masked_scatter(is_patch[..., None], e + self.col(where % self.grid))
        if getattr(self, "value", None) is not None:  # models pickled before it: none
            h = h + self.value_feature(ids).to(h.dtype)
        if getattr(self, "hide_continuous_actions", False):  # models pickled before it: off
            # a continuous action enters the context as its slot only (the local embedding):
            # the model cannot copy the last torque and must read it off the observations
            cont = (ids >= CONT_START) & (ids < CONT_START + N_BINS) & (local == LOCAL_ACTION)
            h = h.masked_fill(cont[..., None], 0.0)
        return h + self.local(local.clamp(0, N_LOCAL - 1))

    def value_feature(self, ids: torch.Tensor) -> torch.Tensor:
        """w·y for a continuous id whose bin centre is y in [-1, 1] (after μ-law where it
        applies), 0 for every other id: the value's sign and size, linear in one direction."""
        assert self.value is not None
        cont = (ids >= CONT_START) & (ids < CONT_START + N_BINS)
        y = ((ids - CONT_START).clamp(0, N_BINS - 1) + 0.5) / N_BINS * 2 - 1
        return self.value((y * cont)[..., None].to(self.value.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [batch, seq, 3] int64 -> logits [batch, seq, vocab] (float32)."""
        return self.llama(inputs_embeds=self.embed(x))
