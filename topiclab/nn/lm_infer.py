"""A Llama ``Transformer``'s weights in a lean KV-cached forward, for coding many chunks at once.

    from topiclab.nn.lm_infer import LeanLlama
    net = LeanLlama(model, batch=64)            # fused weights, a cache for 64 rows
    logits = net.prefill(tokens)                # tokens [b, t] at positions 0..t-1 -> [b, V]
    logits = net.step(tokens[:, -1], pos=t)     # one token per row at position pos -> [b, V]

The same mathematics as ``topiclab.nn.llama.Transformer`` (the logits agree to float32
rounding, ``tests/nn/test_lm_infer.py``), written for the codec's inner loop, which is one
one-token forward per coded byte: the module forward spends most of a small model's step in
Python (≈ 27 module calls per layer); here a layer is five matrix products (q, k and v fused
into one, SwiGLU's w1 and w3 into one), RoPE as real arithmetic on precomputed cos/sin, and
one-token grouped-query attention as two batched products on the cache without repeating the
KV heads. Positions restart at 0 with every prefill, so the tables cover one window.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from topiclab.nn.llama import Transformer


def _rms(x: torch.Tensor, g: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


class LeanLlama:
    """Inference-only copy of a float32 ``Transformer`` with a KV cache for ``batch`` rows."""

    def __init__(self, model: Transformer, batch: int) -> None:
        p = model.params
        self.window, self.eps = int(p.max_seq_len), float(p.norm_eps)
        self.h, self.kv, self.hd = p.n_heads, p.kv_heads, p.head_dim
        sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
        self.emb, self.norm, self.out = (
            sd["tok_embeddings.weight"],
            sd["norm.weight"],
            sd["output.weight"],
        )
        self.layers = []
        for i in range(p.n_layers):

            def w(name: str, i: int = i) -> torch.Tensor:
                return sd[f"layers.{i}.{name}.weight"]

            self.layers.append(
                (
                    w("attention_norm"),
                    torch.cat([w("attention.wq"), w("attention.wk"), w("attention.wv")]),
                    w("attention.wo"),
                    w("ffn_norm"),
                    torch.cat([w("feed_forward.w1"), w("feed_forward.w3")]),
                    w("feed_forward.w2"),
                )
            )
        half = torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd
        angles = torch.outer(
            torch.arange(self.window, dtype=torch.float32), 1.0 / p.rope_theta**half
        )
        self.cos, self.sin = angles.cos(), angles.sin()  # [window, hd/2]
        shape = (batch, self.kv, self.window, self.hd)
        self.k = [torch.zeros(shape) for _ in self.layers]
        self.v = [torch.zeros(shape) for _ in self.layers]

    def _rope(self, x: torch.Tensor, pos: slice) -> torch.Tensor:
        """Meta's interleaved rotary embedding: dims (2i, 2i+1) rotate as one complex number."""
        a, b = x.unflatten(-1, (-1, 2)).unbind(-1)  # [b, t, heads, hd/2] each
        c, s = self.cos[pos, None, :], self.sin[pos, None, :]
        return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)

    def _forward(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        n, t = tokens.shape
        end, qd, kd = start + t, self.h * self.hd, self.kv * self.hd
        x = self.emb[tokens]
        for i, (g1, wqkv, wo, g2, w13, w2) in enumerate(self.layers):
            q, k, v = F.linear(_rms(x, g1, self.eps), wqkv).split([qd, kd, kd], dim=-1)
            q = self._rope(q.view(n, t, self.h, self.hd), slice(start, end))
            k = self._rope(k.view(n, t, self.kv, self.hd), slice(start, end))
            self.k[i][:n, :, start:end] = k.transpose(1, 2)
            self.v[i][:n, :, start:end] = v.view(n, t, self.kv, self.hd).transpose(1, 2)
            keys, vals = self.k[i][:n, :, :end], self.v[i][:n, :, :end]
            if t == 1:  # one query per row: the rep query heads of a KV head share its cache
                qg = q.view(n, self.kv, self.h // self.kv, self.hd)
                att = torch.softmax(qg @ keys.transpose(2, 3) / self.hd**0.5, dim=-1)
                o = (att @ vals).reshape(n, 1, qd)
            else:  # a prefill starts at position 0, so the causal flag is the whole mask
                o = F.scaled_dot_product_attention(
                    q.transpose(1, 2), keys, vals, is_causal=True, enable_gqa=self.h > self.kv
                )
                o = o.transpose(1, 2).reshape(n, t, qd)
            x = x + F.linear(o, wo)
            gate, up = F.linear(_rms(x, g2, self.eps), w13).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, w2)
        return F.linear(_rms(x[:, -1], self.norm, self.eps), self.out)

    def prefill(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits after the last of ``tokens`` [b, t ≤ window], filling the cache from 0."""
        return self._forward(tokens, 0)

    def step(self, tokens: torch.Tensor, pos: int) -> torch.Tensor:
        """Logits after one more token per row (``tokens`` [b]) at position ``pos`` < window."""
        return self._forward(tokens[:, None], pos)
