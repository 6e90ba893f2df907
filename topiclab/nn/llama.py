"""Llama 2 in one readable file, in the structure of Meta's reference ``model.py``.

    from topiclab.nn.llama import ModelArgs, Transformer, param_count
    model = Transformer(ModelArgs(dim=128, n_layers=4, n_heads=4, n_kv_heads=2, vocab_size=256))
    logits = model(tokens)                       # [batch, seq, vocab], float32
    model.setup_cache(batch_size=2)              # KV cache for incremental decoding
    logits = model(tokens[:, :5], start_pos=0); logits = model(tokens[:, 5:6], start_pos=5)

Pieces, in code order: ``ModelArgs``; ``RMSNorm`` (fp32 compute); rotary embeddings in complex
form with Meta's *interleaved* layout (pairs of adjacent dimensions; Hugging Face rotates halves,
see ``llama_hf.py`` for the weight permutation); ``Attention`` with grouped-query attention and a
KV cache; the SwiGLU ``FeedForward`` with Meta's hidden-size rule; pre-norm ``TransformerBlock``;
``Transformer`` with an untied output head; ``param_count``, the closed form of the model size;
``LLAMA2``, the published 7B/13B/70B shapes and sizes.

Differences from Meta's file, each for a reason: no fairscale model parallelism (one process);
the KV cache is allocated on demand by ``setup_cache`` rather than at construction, and laid out
[batch, kv_heads, seq, head_dim] so ``scaled_dot_product_attention`` reads it without a copy;
GQA uses SDPA's ``enable_gqa`` instead of materialising ``repeat_kv`` (the eager path keeps it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelArgs:
    """The ``params.json`` of a Llama checkpoint, plus the sizes our cache needs."""

    dim: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    n_kv_heads: int | None = None  # None: multi-head attention (n_kv_heads = n_heads)
    vocab_size: int = 32000
    multiple_of: int = 256  # the SwiGLU hidden size is rounded up to a multiple of this
    ffn_dim_multiplier: float | None = None  # 1.3 for 70B
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_batch_size: int = 32
    max_seq_len: int = 2048
    use_sdpa: bool = True  # False: Meta's explicit softmax(QK^T/sqrt(d) + mask) V

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def ffn_hidden(self) -> int:
        return ffn_hidden_size(self.dim, self.multiple_of, self.ffn_dim_multiplier)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def ffn_hidden_size(dim: int, multiple_of: int, ffn_dim_multiplier: float | None) -> int:
    """Meta's rule: 2/3 of 4·dim (SwiGLU has three matrices, so this keeps the FLOPs of a
    4·dim MLP), optionally scaled, then rounded up to a multiple of ``multiple_of``."""
    hidden = int(2 * (4 * dim) / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def param_count(args: ModelArgs) -> int:
    """P = 2·V·d + L·(2·d·n_heads·d_head + 2·d·n_kv·d_head + 3·d·d_ffn + 2·d) + d.

    Embedding and untied head (2·V·d); per layer wq/wo, wk/wv, the three SwiGLU matrices and two
    RMSNorm gains; the final norm. No biases anywhere.
    """
    d, hd = args.dim, args.head_dim
    per_layer = 2 * d * args.n_heads * hd + 2 * d * args.kv_heads * hd + 3 * d * args.ffn_hidden
    return 2 * args.vocab_size * d + args.n_layers * (per_layer + 2 * d) + d


def kv_cache_bytes_per_token(args: ModelArgs, bytes_per_value: int = 2) -> int:
    """Keys and values of every layer for one token: 2·L·n_kv·d_head·bytes (fp16 by default)."""
    return 2 * args.n_layers * args.kv_heads * args.head_dim * bytes_per_value


# Llama 2's published shapes (Touvron et al. 2023, arXiv 2307.09288, Table 1; the released
# params.json and Hugging Face configs) with their published parameter counts: ``param_count``
# reproduces each exactly (tests/nn/test_llama.py). 70B is the one with GQA (8 KV heads) and
# a scaled SwiGLU width (ffn_dim_multiplier 1.3, multiple_of 4096 -> 28,672).
LLAMA2_PAPER = "Touvron et al. 2023, Llama 2 (arXiv 2307.09288), Table 1; HF Llama-2 configs"
LLAMA2: dict[str, tuple[ModelArgs, int]] = {
    "7B": (ModelArgs(dim=4096, n_layers=32, n_heads=32, vocab_size=32000), 6_738_415_616),
    "13B": (ModelArgs(dim=5120, n_layers=40, n_heads=40, vocab_size=32000), 13_015_864_320),
    "70B": (
        ModelArgs(
            dim=8192,
            n_layers=80,
            n_heads=64,
            n_kv_heads=8,
            vocab_size=32000,
            ffn_dim_multiplier=1.3,
            multiple_of=4096,
        ),
        68_976_648_192,
    ),
}


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · g, computed in float32 and cast back (as Meta and HF do)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return out.type_as(x) * self.weight


def precompute_freqs_cis(head_dim: int, end: int, theta: float = 10000.0) -> torch.Tensor:
    """Rotations e^{i·m·θ_j}, θ_j = theta^(-2j/d), for positions m < end: complex64 [end, d/2]."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    angles = torch.outer(torch.arange(end, dtype=torch.float32), freqs)
    return torch.polar(torch.ones_like(angles), angles)


def apply_rotary_emb(
    xq: torch.Tensor, xk: torch.Tensor, freqs_cis: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate q and k [batch, seq, heads, head_dim]: dims (2i, 2i+1) form one complex number."""
    xq_ = torch.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
    xk_ = torch.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2))
    f = freqs_cis[None, :, None, :]  # broadcast over batch and heads
    xq_out = torch.view_as_real(xq_ * f).flatten(3)
    xk_out = torch.view_as_real(xk_ * f).flatten(3)
    return xq_out.type_as(xq), xk_out.type_as(xk)


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """[batch, seq, kv_heads, d] -> [batch, seq, kv_heads·n_rep, d]: each KV head serves n_rep
    query heads (same as ``torch.repeat_interleave(x, n_rep, dim=2)``)."""
    if n_rep == 1:
        return x
    b, s, h, d = x.shape
    return x[:, :, :, None, :].expand(b, s, h, n_rep, d).reshape(b, s, h * n_rep, d)


class KVCache(nn.Module):
    """Keys and values of the positions seen so far: [batch, kv_heads, max_seq, head_dim]."""

    def __init__(
        self,
        batch: int,
        kv_heads: int,
        max_seq: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        super().__init__()
        shape = (batch, kv_heads, max_seq, head_dim)
        self.k: torch.Tensor
        self.v: torch.Tensor
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    def update(
        self, start_pos: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v [batch, kv_heads, seq, d] at start_pos; return everything up to them."""
        b, end = k.shape[0], start_pos + k.shape[2]
        self.k[:b, :, start_pos:end] = k
        self.v[:b, :, start_pos:end] = v
        return self.k[:b, :, :end], self.v[:b, :, :end]


class Attention(nn.Module):
    """Multi-head self-attention with grouped-query KV heads and an optional KV cache."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        assert args.n_heads % args.kv_heads == 0, "n_heads must be a multiple of n_kv_heads"
        self.n_heads, self.n_kv_heads, self.head_dim = args.n_heads, args.kv_heads, args.head_dim
        self.n_rep = self.n_heads // self.n_kv_heads
        self.use_sdpa = args.use_sdpa
        self.wq = nn.Linear(args.dim, self.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(self.n_heads * self.head_dim, args.dim, bias=False)
        self.cache: KVCache | None = None

    def forward(
        self, x: torch.Tensor, start_pos: int, freqs_cis: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        bsz, seqlen, _ = x.shape
        xq = self.wq(x).view(bsz, seqlen, self.n_heads, self.head_dim)
        xk = self.wk(x).view(bsz, seqlen, self.n_kv_heads, self.head_dim)
        xv = self.wv(x).view(bsz, seqlen, self.n_kv_heads, self.head_dim)
        xq, xk = apply_rotary_emb(xq, xk, freqs_cis)
        q, k, v = xq.transpose(1, 2), xk.transpose(1, 2), xv.transpose(1, 2)  # [b, heads, s, d]
        if self.cache is not None:
            k, v = self.cache.update(start_pos, k, v)
        if self.use_sdpa:
            # A fresh sequence needs only the built-in causal flag; one new token sees everything.
            causal = mask is None and seqlen > 1 and k.shape[2] == seqlen
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=self.n_rep > 1
            )
        else:
            k = repeat_kv(k.transpose(1, 2), self.n_rep).transpose(1, 2)
            v = repeat_kv(v.transpose(1, 2), self.n_rep).transpose(1, 2)
            scores = (q @ k.transpose(2, 3)) / math.sqrt(self.head_dim)
            if mask is None and seqlen > 1:
                mask = causal_mask(seqlen, k.shape[2] - seqlen, x.device)
            if mask is not None:
                scores = scores + mask
            out = F.softmax(scores.float(), dim=-1).type_as(q) @ v
        return self.wo(out.transpose(1, 2).reshape(bsz, seqlen, -1))


def causal_mask(seqlen: int, start_pos: int, device: torch.device) -> torch.Tensor:
    """[seqlen, start_pos + seqlen]: 0 where attention is allowed, -inf above the diagonal.
    The cached prefix is fully visible, hence the zero columns in front (Llama 2's hstack)."""
    mask = torch.triu(torch.full((seqlen, seqlen), float("-inf"), device=device), diagonal=1)
    return torch.hstack([torch.zeros((seqlen, start_pos), device=device), mask])


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1·x) ⊙ w3·x) (HF names: gate = w1, up = w3, down = w2)."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """Pre-norm residual block: h = x + Attn(norm(x)); out = h + FFN(norm(h))."""

    def __init__(self, layer_id: int, args: ModelArgs) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.attention = Attention(args)
        self.feed_forward = FeedForward(args.dim, args.ffn_hidden)
        self.attention_norm = RMSNorm(args.dim, eps=args.norm_eps)
        self.ffn_norm = RMSNorm(args.dim, eps=args.norm_eps)

    def forward(
        self, x: torch.Tensor, start_pos: int, freqs_cis: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), start_pos, freqs_cis, mask)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    """Token embedding, ``n_layers`` blocks, a final RMSNorm and an untied output head."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.params = args
        self.vocab_size, self.n_layers = args.vocab_size, args.n_layers
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(TransformerBlock(i, args) for i in range(args.n_layers))
        self.norm = RMSNorm(args.dim, eps=args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        # Not a buffer: Module.to(bfloat16) would cast a complex buffer to a real one.
        self._freqs: dict[torch.device, torch.Tensor] = {}
        self.apply(self._init_weights)
        # GPT-2/llama2.c: scale the residual projections by 1/sqrt(2·layers) so the residual
        # stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith(("wo.weight", "w2.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * args.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def freqs_cis(self, device: torch.device) -> torch.Tensor:
        """RoPE table for 2·max_seq_len positions (Meta's size), built once per device."""
        if device not in self._freqs:
            p = self.params
            # built outside inference mode, so a model that generated first can still train
            with torch.inference_mode(False):
                self._freqs[device] = precompute_freqs_cis(
                    p.head_dim, 2 * p.max_seq_len, p.rope_theta
                ).to(device)
        return self._freqs[device]

    def setup_cache(
        self,
        batch_size: int | None = None,
        max_seq_len: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """Allocate a KV cache in every layer; forward then uses it at ``start_pos``."""
        p, ref = self.params, self.output.weight
        for attn in self.attentions():
            attn.cache = KVCache(
                batch_size or p.max_batch_size,
                attn.n_kv_heads,
                max_seq_len or p.max_seq_len,
                attn.head_dim,
                dtype or ref.dtype,
                ref.device,
            )

    def clear_cache(self) -> None:
        """Drop the KV caches: forward is then a plain (training) forward again."""
        for attn in self.attentions():
            attn.cache = None

    def attentions(self) -> list[Attention]:
        """The attention module of every block, in order."""
        return [cast(TransformerBlock, block).attention for block in self.layers]

    @property
    def has_cache(self) -> bool:
        return self.attentions()[0].cache is not None

    def forward(
        self,
        tokens: torch.Tensor | None = None,
        start_pos: int = 0,
        last_only: bool = False,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits [batch, seq, vocab] in float32 for tokens at positions start_pos, ...

        Without a cache, ``start_pos`` must be 0. ``last_only`` computes the head for the last
        position only (what decoding needs; LLaMA-1 always did this). ``inputs_embeds``
        [batch, seq, dim] replaces the token embedding lookup (Hugging Face's argument of that
        name), for models that embed their inputs themselves; pass one of the two.
        """
        if (tokens is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of tokens and inputs_embeds")
        if start_pos > 0 and not self.has_cache:
            raise ValueError("start_pos > 0 needs a KV cache: call setup_cache() first")
        h = self.tok_embeddings(tokens) if inputs_embeds is None else inputs_embeds
        seqlen = h.shape[1]
        freqs_cis = self.freqs_cis(h.device)[start_pos : start_pos + seqlen]
        # SDPA handles the fresh-sequence and one-token cases itself; a chunk after a cached
        # prefix needs the explicit mask with the prefix columns visible.
        mask = causal_mask(seqlen, start_pos, h.device) if seqlen > 1 and start_pos else None
        if mask is not None:
            mask = mask.to(h.dtype)
        for layer in self.layers:
            h = layer(h, start_pos, freqs_cis, mask)
        h = self.norm(h)
        if last_only:
            h = h[:, -1:]
        return self.output(h).float()
