"""A Llama ``Transformer``'s weights in a lean sliding-window forward, for coding many chunks.

    from topiclab.nn.lm_infer import LeanLlama
    net = LeanLlama(model, batch=64)            # fused weights, a ring cache for 64 rows
    logits = net.step(tokens[:, t], pos=t)      # one token per row at position t -> [b, V]
    logits = net.prefill(tokens[:, s:t])        # or restart: these at positions 0..t-s-1

The module's layers and weights (``tests/nn/test_lm_infer.py``), written for the codec's inner
loop, which is one one-token forward per coded byte:

- a layer is five matrix products (q, k and v fused into one, SwiGLU's w1 and w3 into one)
  instead of the module's ≈ 27 calls;
- the KV cache is a ring of ``max_seq_len`` slots: token t goes to slot t mod window and
  attends to the slots filled so far (at most the window): sliding-window attention, as in
  Mistral. Rotary embeddings see only the distance between a query and a key (the angles are
  computed in float64), so within the first window, and for a one-layer model always, the
  logits are the module's on the same (last ``window``) tokens to float32 rounding. With more
  layers a cached key also carries what its token saw before it, so the context reaches back
  further than one window. Every byte is one step; no window is ever read twice;
- ``prefill`` instead restarts the cache with a few tokens at positions 0.. (the online mode
  refills a full cache so, with half the window: its briefly trained model codes better from
  a fresh window than from a sliding one);
- keys are kept transposed, so that a step's grouped-query attention is two plain batched
  products without repeating the KV heads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from topiclab.nn.llama import Transformer


def _rms(x: torch.Tensor, g: torch.Tensor, eps: float) -> torch.Tensor:
    return F.rms_norm(x, g.shape, g, eps)  # one fused op where the module takes six


class LeanLlama:
    """Inference-only copy of a float32 ``Transformer`` with a ring KV cache for ``batch`` rows."""

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
        self.inv_freq = 1.0 / float(p.rope_theta) ** (
            torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd
        )
        self.kt = [torch.zeros(batch, self.kv, self.hd, self.window) for _ in self.layers]
        self.v = [torch.zeros(batch, self.kv, self.window, self.hd) for _ in self.layers]

    def _angles(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        angle = pos.double()[..., None] * self.inv_freq
        return angle.cos().float(), angle.sin().float()

    def _rotation(self, pos: int) -> torch.Tensor:
        """RoPE at ``pos`` as a matrix R (x @ R rotates the pairs): one product per q and k."""
        cos, sin = self._angles(torch.tensor(pos))
        r = torch.zeros(self.hd // 2, 2, self.hd // 2, 2)
        i = torch.arange(self.hd // 2)
        r[i, 0, i, 0], r[i, 0, i, 1] = cos, sin  # (a, b) -> (a cos - b sin, a sin + b cos)
        r[i, 1, i, 0], r[i, 1, i, 1] = -sin, cos
        return r.view(self.hd, self.hd)

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Meta's interleaved rotary embedding: dims (2i, 2i+1) rotate as one complex number."""
        a, b = x.unflatten(-1, (-1, 2)).unbind(-1)  # [..., heads, hd/2] each
        return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)

    def step(self, tokens: torch.Tensor, pos: int) -> torch.Tensor:
        """Logits after one more token per row (``tokens`` [b]) at position ``pos`` (from 0,
        one step at a time): it attends to itself and the ``window - 1`` tokens before it."""
        n, qd, kd = tokens.shape[0], self.h * self.hd, self.kv * self.hd
        rot = self._rotation(pos)
        slot, used = pos % self.window, min(pos + 1, self.window)
        x = self.emb[tokens]
        for i, (g1, wqkv, wo, g2, w13, w2) in enumerate(self.layers):
            q, k, v = F.linear(_rms(x, g1, self.eps), wqkv).split([qd, kd, kd], dim=-1)
            q = q.view(n, self.h, self.hd) @ rot
            self.kt[i][:n, :, :, slot] = k.view(n, self.kv, self.hd) @ rot
            self.v[i][:n, :, slot] = v.view(n, self.kv, self.hd)
            # The rep query heads of a KV head share its cache: [n, kv, rep, hd] @ [n, kv, hd, t].
            qg = q.view(n, self.kv, self.h // self.kv, self.hd) * self.hd**-0.5
            att = torch.softmax(qg @ self.kt[i][:n, :, :, :used], dim=-1)
            o = (att @ self.v[i][:n, :, :used]).reshape(n, qd)
            x = x + F.linear(o, wo)
            gate, up = F.linear(_rms(x, g2, self.eps), w13).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, w2)
        return F.linear(_rms(x, self.norm, self.eps), self.out)

    def prefill(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits after the last of ``tokens`` [b, t ≤ window], the cache restarted with them at
        positions 0..t-1 (``step`` goes on from position t)."""
        n, t = tokens.shape
        qd, kd = self.h * self.hd, self.kv * self.hd
        cos, sin = self._angles(torch.arange(t))
        cos, sin = cos[:, None], sin[:, None]  # [t, 1, hd/2]: broadcast over the heads
        x = self.emb[tokens]
        for i, (g1, wqkv, wo, g2, w13, w2) in enumerate(self.layers):
            q, k, v = F.linear(_rms(x, g1, self.eps), wqkv).split([qd, kd, kd], dim=-1)
            q = self._rope(q.view(n, t, self.h, self.hd), cos, sin).transpose(1, 2)
            k = self._rope(k.view(n, t, self.kv, self.hd), cos, sin).transpose(1, 2)
            v = v.view(n, t, self.kv, self.hd).transpose(1, 2)
            self.kt[i][:n, :, :, :t] = k.transpose(2, 3)
            self.v[i][:n, :, :t] = v
            o = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, enable_gqa=self.h > self.kv
            )  # the window starts at position 0, so the causal flag is the whole mask
            x = x + F.linear(o.transpose(1, 2).reshape(n, t, qd), wo)
            gate, up = F.linear(_rms(x, g2, self.eps), w13).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, w2)
        return F.linear(_rms(x[:, -1], self.norm, self.eps), self.out)
