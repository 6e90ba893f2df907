"""Our Llama against Hugging Face ``LlamaForCausalLM``: same config, same weights, same run, CPU.

    .venv/bin/python benchmarks/bench_llama_vs_hf.py                 # the topic's mini Llama
    .venv/bin/python benchmarks/bench_llama_vs_hf.py --threads 2 --dim 256 --layers 6

Training step: forward, cross-entropy, backward and an AdamW step (same optimiser settings for
both) on a [batch, seq] batch; tokens/s. Cached decode: greedy, one token per forward, each model
with its own KV cache (ours: preallocated; HF: ``DynamicCache``), after a prompt; tokens/s over
the batch. HF runs with its default attention (SDPA). The two alternate, repeat by repeat, so
machine load hits both alike; the median of the repeats is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from topiclab.nn.llama import ModelArgs, Transformer
from topiclab.nn.llama_hf import to_hf


def train_step_fn(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    logits_of: Callable[[torch.Tensor], torch.Tensor],
) -> Callable[[], None]:
    opt = torch.optim.AdamW(
        model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-5, weight_decay=0.1
    )

    def step() -> None:
        logits = logits_of(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


@torch.inference_mode()
def decode_ours(model: Transformer, prompt: torch.Tensor, n: int) -> torch.Tensor:
    model.setup_cache(prompt.shape[0], prompt.shape[1] + n)
    logits = model(prompt, 0, last_only=True)
    out = []
    for i in range(n):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out.append(nxt)
        logits = model(nxt, prompt.shape[1] + i)
    model.clear_cache()
    return torch.cat(out, 1)


@torch.inference_mode()
def decode_hf(hf: Any, prompt: torch.Tensor, n: int) -> torch.Tensor:
    from transformers import DynamicCache

    cache = DynamicCache(config=hf.config)
    logits = hf(prompt, cache=cache, use_cache=True, logits_to_keep=1).logits
    out = []
    for _ in range(n):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out.append(nxt)
        logits = hf(nxt, cache=cache, use_cache=True).logits
    return torch.cat(out, 1)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--decode-batch", type=int, default=4)
    ap.add_argument("--decode-tokens", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    args = ModelArgs(
        dim=a.dim,
        n_layers=a.layers,
        n_heads=a.heads,
        n_kv_heads=a.kv_heads,
        vocab_size=a.vocab,
        multiple_of=32,
        max_seq_len=a.seq + a.decode_tokens,
    )
    ours = Transformer(args)
    hf = to_hf(ours, attn_implementation="sdpa")
    x = torch.randint(0, a.vocab, (a.batch, a.seq + 1))
    inp, tgt = x[:, :-1], x[:, 1:]
    with torch.no_grad():
        diff = (ours(inp) - hf(inp).logits).abs().max().item()
    prompt = x[: a.decode_batch, :16]
    same = torch.equal(
        decode_ours(ours, prompt, a.decode_tokens), decode_hf(hf, prompt, a.decode_tokens)
    )

    ours.train(), hf.train()
    steps = {
        "ours": train_step_fn(ours, inp, tgt, lambda t: ours(t)),
        "hf": train_step_fn(hf, inp, tgt, lambda t: hf(t).logits),
    }
    decodes = {
        "ours": lambda: decode_ours(ours.eval(), prompt, a.decode_tokens),
        "hf": lambda: decode_hf(hf.eval(), prompt, a.decode_tokens),
    }
    for fn in [*steps.values(), *decodes.values()]:  # warm-up
        fn()
    train_s: dict[str, list[float]] = {"ours": [], "hf": []}
    dec_s: dict[str, list[float]] = {"ours": [], "hf": []}
    for _ in range(a.repeats):
        for name in ("ours", "hf"):
            ours.train(), hf.train()
            train_s[name].append(timed(steps[name]))
            dec_s[name].append(timed(decodes[name]))
    tok_train = a.batch * a.seq
    tok_dec = a.decode_batch * a.decode_tokens
    tps = {k: tok_train / statistics.median(v) for k, v in train_s.items()}
    dps = {k: tok_dec / statistics.median(v) for k, v in dec_s.items()}
    print(
        f"config: dim {a.dim}, layers {a.layers}, heads {a.heads}, kv_heads {a.kv_heads}, "
        f"vocab {a.vocab}, params {sum(p.numel() for p in ours.parameters()):,}; "
        f"torch {torch.__version__}, threads {a.threads}, repeats {a.repeats} (median)"
    )
    print(f"same weights: max |logits diff| = {diff:.2e}; identical greedy decode: {same}")
    print(
        f"train step  [{a.batch}x{a.seq}]: ours {tps['ours']:,.0f} tok/s  "
        f"hf {tps['hf']:,.0f} tok/s  ratio ours/hf {tps['ours'] / tps['hf']:.2f}"
    )
    print(
        f"cached decode [{a.decode_batch}x{a.decode_tokens}]: ours {dps['ours']:,.0f} tok/s  "
        f"hf {dps['hf']:,.0f} tok/s  ratio ours/hf {dps['ours'] / dps['hf']:.2f}"
    )


if __name__ == "__main__":
    main()
