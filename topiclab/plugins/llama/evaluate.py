"""The evaluate stage of llama: bits per character, samples, decode speed, KV-cache memory,
the published sizes and an anatomy of this run's model.

    from topiclab.plugins.llama.evaluate import evaluate
    result = evaluate(ctx, cfg, data, trained)     # metrics, tables, figures, claims, sections

Each measurement takes a model and plain values and returns plain values (numbers, rows);
``evaluate`` wires them together, ``claims.py`` and ``figures.py`` turn them into verdicts and
pictures.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn.llama import (
    LLAMA2,
    ModelArgs,
    Transformer,
    kv_cache_bytes_per_token,
    param_count,
)
from topiclab.nn.llama_generate import generate
from topiclab.nn.threads import torch_threads
from topiclab.nn.tokenizers import Tokenizer, load_tokenizer
from topiclab.plugins.llama import data as d
from topiclab.plugins.llama.claims import build_claims
from topiclab.plugins.llama.config import LlamaConfig
from topiclab.plugins.llama.figures import topic_figures


def evaluate(
    ctx: StageContext, cfg: LlamaConfig, data: StageResult, trained: StageResult
) -> StageResult:
    with torch_threads(cfg.threads):
        return _evaluate(ctx, cfg, data, trained)


def _evaluate(
    ctx: StageContext, cfg: LlamaConfig, data: StageResult, trained: StageResult
) -> StageResult:
    tok = load_tokenizer(data.files["tokenizer"])
    model: Transformer = torch.load(trained.files["model"], weights_only=False).eval()
    args = model.params
    train_text = Path(data.files["train_text"]).read_text(encoding="utf-8")
    eval_text = Path(data.files["eval_text"]).read_text(encoding="utf-8")

    score = bits_per_char(model, tok, eval_text)
    base = d.char_ngram_bits(train_text, eval_text)
    e = cfg.eval
    rows = samples(model, tok, e.prompts, e.temperatures, e.top_p, e.sample_tokens, cfg.seed)
    speed = decode_speed(model, e.decode_tokens)
    cache = cache_equivalence(model, args.vocab_size, args.max_seq_len, cfg.seed)
    kv_rows = kv_memory_rows(args, args.max_seq_len)
    greedy_eq = top_p_zero_is_greedy(model, tok, cfg)

    metrics = {
        "val_bpc": score["bpc"],
        "val_bits_per_token": score["bits_per_token"],
        **base,
        "bpc_margin_vs_bigram": base["bigram_bpc"] - score["bpc"],
        **speed,
        **cache,
        "params": param_count(args),
        "top_p_zero_equals_greedy": float(greedy_eq),
    }
    for r in kv_rows:
        metrics[f"kv_bytes_per_token_{r['attention'].lower()}"] = r["kv_bytes_per_token_fp32"]
    sizes = llama2_sizes()
    with open(trained.files["history"]) as fh:
        history = list(csv.DictReader(fh))
    anatomy = anatomy_rows(args, cfg.train.batch_size)
    return StageResult(
        metrics=metrics,
        tables={
            "bpc": ctx.write_table("bpc.csv", bpc_rows(metrics)),
            "samples": ctx.write_table("samples.csv", rows),
            "kv_memory": ctx.write_table("kv_memory.csv", kv_rows),
            "llama2_sizes": ctx.write_table("llama2_sizes.csv", sizes),
            "anatomy": ctx.write_table("anatomy.csv", anatomy),
        },
        figures=topic_figures(ctx, history, metrics, kv_rows),
        claims=build_claims(metrics, kv_rows, sizes, args),
        sections={
            "Anatomy": anatomy_md(args, data),
            "Samples": samples_md(rows),
            "KV cache": "<!-- table:kv_memory -->"
            + (
                f"\n\nDecoding {e.decode_tokens} tokens (batch 1): "
                f"{speed['decode_s_per_token_cache'] * 1e3:.2f} ms/token with the "
                f"cache, {speed['decode_s_per_token_nocache'] * 1e3:.2f} ms/token "
                f"without ({speed['decode_speedup']:.2f}x)."
            ),
        },
    )


def llama2_sizes() -> list[dict[str, Any]]:
    """The published Llama 2 shapes: computed and published parameter counts, KV bytes."""
    return [
        {
            "model": k,
            "params_computed": param_count(a),
            "params_published": n,
            "ffn_hidden": a.ffn_hidden,
            "kv_bytes_per_token_fp16": kv_cache_bytes_per_token(a),
        }
        for k, (a, n) in LLAMA2.items()
    ]


def top_p_zero_is_greedy(model: Transformer, tok: Tokenizer, cfg: LlamaConfig) -> bool:
    """Top-p sampling with p -> 0 keeps only the most likely token: greedy decoding."""
    prompts = [tok.encode(p) for p in cfg.eval.prompts]
    n = min(32, cfg.eval.sample_tokens)
    greedy = generate(model, prompts, n, temperature=0.0)
    tiny_p = generate(
        model,
        prompts,
        n,
        temperature=1.0,
        top_p=1e-9,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    return greedy == tiny_p


def bpc_rows(metrics: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"model": "unigram (add-one)", "bpc": metrics["unigram_bpc"]},
        {"model": "bigram (add-one)", "bpc": metrics["bigram_bpc"]},
        {"model": "mini Llama", "bpc": metrics["val_bpc"]},
    ]


def anatomy_md(args: ModelArgs, data: StageResult) -> str:
    """This run's shape in a sentence; the report puts the ``anatomy`` table under it."""
    head = (
        f"Model of this run: dim {args.dim}, {args.n_layers} layers, {args.n_heads} query "
        f"heads, {args.kv_heads} KV heads (head_dim {args.head_dim}), SwiGLU hidden "
        f"{args.ffn_hidden}, vocabulary {args.vocab_size}, context {args.max_seq_len}; "
        f"{param_count(args):,} parameters. Held-out documents "
        f"({data.data['source']}): {', '.join(data.data['val_docs'])}.\n\n"
    )
    return head + "<!-- table:anatomy -->"


def samples_md(rows: list[dict[str, Any]]) -> str:
    parts = []
    for r in rows:
        how = "greedy" if not r["temperature"] else f"T={r['temperature']}, top-p={r['top_p']}"
        text = (r["prompt"] + r["completion"]).replace("```", "'''")
        parts.append(f"**{how}**\n\n```text\n{text}\n```")
    return "\n\n".join(parts)


@torch.no_grad()
def bits_per_char(
    model: Transformer, tok: Tokenizer, text: str, batch: int = 16
) -> dict[str, float]:
    """Cross-entropy of ``text`` in bits per character, scored in windows of ``seq_len``.

    Each window predicts its tokens from the ones before it in the same window (the first of a
    window is context only), so every token after the first is scored exactly once.
    """
    model.eval()
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    n = model.params.max_seq_len
    windows = [ids[i : i + n + 1] for i in range(0, len(ids) - 1, n)]
    nats, count = 0.0, 0
    for i in range(0, len(windows), batch):
        group = windows[i : i + batch]
        if len(group[-1]) != len(group[0]):  # the short tail window goes on its own
            tail = group.pop()
            nats, count = _score([tail], model, nats, count)
            if not group:
                continue
        nats, count = _score(group, model, nats, count)
    tokens_per_char = len(ids) / len(text)
    bits_per_token = nats / count / math.log(2)
    return {
        "bpc": bits_per_token * tokens_per_char,
        "bits_per_token": bits_per_token,
        "tokens_per_char": tokens_per_char,
        "scored_tokens": float(count),
    }


def _score(
    group: list[torch.Tensor], model: Transformer, nats: float, count: int
) -> tuple[float, int]:
    w = torch.stack(group)
    logits = model(w[:, :-1])
    loss = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1), reduction="sum"
    )
    return nats + float(loss), count + w[:, 1:].numel()


def samples(
    model: Transformer,
    tok: Tokenizer,
    prompts: list[str],
    temperatures: list[float],
    top_p: float,
    n_tokens: int,
    seed: int,
) -> list[dict[str, Any]]:
    """One completion per (prompt, temperature); temperature 0 is greedy decoding."""
    rows = []
    for t in temperatures:
        g = torch.Generator().manual_seed(seed)
        outs = generate(
            model,
            [tok.encode(p) for p in prompts],
            n_tokens,
            temperature=t,
            top_p=top_p,
            eos_id=tok.eos_id,
            generator=g,
        )
        for prompt, out in zip(prompts, outs, strict=True):
            rows.append(
                {
                    "temperature": t,
                    "top_p": top_p if t > 0 else None,
                    "prompt": prompt,
                    "completion": tok.decode(out),
                }
            )
    return rows


def decode_speed(
    model: Transformer, n_tokens: int, prompt_len: int = 8, repeats: int = 2
) -> dict[str, float]:
    """Seconds per generated token, greedy, batch 1, with and without the KV cache (best of
    ``repeats``), and whether both produce the same tokens."""
    prompt = [list(range(1, prompt_len + 1))]
    n_tokens = min(n_tokens, model.params.max_seq_len - prompt_len)
    best: dict[bool, float] = {}
    outs: dict[bool, list[list[int]]] = {}
    for use_cache in (True, False):
        for _ in range(repeats):
            t0 = time.perf_counter()
            outs[use_cache] = generate(
                model, prompt, n_tokens, temperature=0.0, use_cache=use_cache
            )
            dt = (time.perf_counter() - t0) / n_tokens
            best[use_cache] = min(best.get(use_cache, math.inf), dt)
    return {
        "decode_s_per_token_cache": best[True],
        "decode_s_per_token_nocache": best[False],
        "decode_speedup": best[False] / best[True],
        "decode_same_tokens": float(outs[True] == outs[False]),
    }


@torch.no_grad()
def cache_equivalence(model: Transformer, vocab: int, length: int, seed: int) -> dict[str, float]:
    """max |logits(full forward) - logits(token-by-token with the KV cache)|, absolute and
    relative to max |logit| (a trained model's logits are large, fp32 rounding scales with them)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (2, length), generator=g)
    model.eval()
    full = model(x)
    model.setup_cache(2, length)
    steps = [model(x[:, i : i + 1], i) for i in range(length)]
    model.clear_cache()
    diff = float((torch.cat(steps, 1) - full).abs().max())
    return {"cache_max_abs_diff": diff, "cache_max_rel_diff": diff / float(full.abs().max())}


def attention_kind(n_heads: int, kv_heads: int) -> str:
    """MHA (a KV head per query head), MQA (one KV head) or GQA (groups in between)."""
    return "MHA" if kv_heads == n_heads else "MQA" if kv_heads == 1 else "GQA"


def kv_memory_rows(args: ModelArgs, context: int) -> list[dict[str, Any]]:
    """KV-cache size for MHA, GQA and MQA variants of this run's model: the formula and the
    bytes actually allocated by ``setup_cache`` (fp32, batch 1, ``context`` positions)."""
    rows = []
    for kv in sorted({args.n_heads, args.kv_heads, 1}, reverse=True):
        variant = replace(args, n_kv_heads=kv)
        with torch.device("meta"):
            m = Transformer(variant)
        m.setup_cache(batch_size=1, max_seq_len=context, dtype=torch.float32)
        allocated = sum(
            a.cache.k.nbytes + a.cache.v.nbytes for a in m.attentions() if a.cache is not None
        )
        name = attention_kind(args.n_heads, kv)
        rows.append(
            {
                "attention": name,
                "n_heads": args.n_heads,
                "n_kv_heads": kv,
                "params": param_count(variant),
                "kv_bytes_per_token_fp32": kv_cache_bytes_per_token(variant, 4),
                "kv_bytes_allocated_fp32": allocated,
                "context": context,
                "kv_bytes_per_token_fp16": kv_cache_bytes_per_token(variant, 2),
            }
        )
    return rows


def anatomy_rows(args: ModelArgs, batch: int) -> list[dict[str, str]]:
    """The components in code order with their weight and activation shapes for this run."""
    b, s, d, h = batch, args.max_seq_len, args.dim, args.n_heads
    kv, hd, f, v = args.kv_heads, args.head_dim, args.ffn_hidden, args.vocab_size
    m = args.multiple_of
    bsd = f"[{b}, {s}, {d}]"
    rows = [  # component, weights, output, note
        ("tok_embeddings", f"[{v}, {d}]", bsd, "token ids -> vectors"),
        (
            "RMSNorm (attention_norm)",
            f"[{d}]",
            bsd,
            f"x / sqrt(mean(x^2) + {args.norm_eps:g}) * g, in fp32",
        ),
        ("wq", f"[{h * hd}, {d}]", f"[{b}, {s}, {h}, {hd}]", f"{h} query heads"),
        (
            "wk, wv",
            f"[{kv * hd}, {d}] each",
            f"[{b}, {s}, {kv}, {hd}]",
            f"{kv} KV heads, each shared by {h // kv} query heads ({attention_kind(h, kv)})",
        ),
        (
            "RoPE",
            f"freqs_cis [{2 * s}, {hd // 2}] complex",
            "q, k rotated",
            f"theta = {args.rope_theta:g}, pairs (2i, 2i+1)",
        ),
        ("KV cache", "-", f"k, v [{b}, {kv}, {s}, {hd}]", "filled at start_pos during decoding"),
        (
            "attention",
            "-",
            f"[{b}, {h}, {s}, {hd}]",
            f"softmax(q k^T / sqrt({hd}) + causal mask) v",
        ),
        ("wo", f"[{d}, {h * hd}]", bsd, "back to the residual stream"),
        ("RMSNorm (ffn_norm)", f"[{d}]", bsd, "pre-norm"),
        (
            "w1 (gate), w3 (up)",
            f"[{f}, {d}] each",
            f"[{b}, {s}, {f}]",
            f"hidden = {m}·ceil(int(8·{d}/3)/{m}) = {f}",
        ),
        ("w2 (down)", f"[{d}, {f}]", bsd, "w2(silu(w1 x) * w3 x)"),
        (f"x {args.n_layers} blocks", "-", bsd, "h = x + attn(norm(x)); out = h + ffn(norm(h))"),
        (
            "norm, output (untied)",
            f"[{d}], [{v}, {d}]",
            f"[{b}, {s}, {v}]",
            f"{param_count(args):,} parameters in all",
        ),
    ]
    keys = ("component", "weights", "output", "note")
    return [dict(zip(keys, row, strict=True)) for row in rows]
