"""The generate stage: π_ref by SFT and Bradley–Terry pairs in the exact world; prompts from the
llama topic's held-out plays and SFT-sampled, gold-labelled pairs in the language-model world.

    from topiclab.plugins.rl_llm.data import generate
    result = generate(ctx, cfg)     # files: exact.pt, lm.pt (tensors), ref.pt

Everything is drawn from generators seeded by ``cfg.seed``; the pairs are sampled from π_ref
(the SFT policy), as DPO's derivation assumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from topiclab.core.errors import TopiclabError
from topiclab.core.topic import StageContext, StageResult
from topiclab.nn import preference as P
from topiclab.nn.llama import Transformer
from topiclab.nn.threads import torch_threads
from topiclab.plugins.rl_llm import exact as X
from topiclab.plugins.rl_llm import lm as M
from topiclab.plugins.rl_llm.config import ExactConfig, LMConfig, RLLLMConfig


def exact_world(cfg: ExactConfig, seed: int) -> X.ExactWorld:
    return X.ExactWorld(cfg.n_prompts, cfg.vocab, cfg.length, seed)


def exact_data(cfg: ExactConfig, seed: int) -> dict[str, Any]:
    """π_ref fitted to a noisy demonstrator's samples; pairs for DPO & co. and the reward
    model, for the imperfect reward models (``n_proxies`` × ``n_small_rm_pairs``), and held
    out for accuracy."""
    world = exact_world(cfg, seed)
    g = torch.Generator().manual_seed(seed + 1)
    demo = X.demonstrator(world, cfg.demo_scale, seed + 2)
    demos = world.sample(demo, torch.randint(world.K, (cfg.n_demos,), generator=g), g)
    ref = X.fit_reference(world, demos, cfg.sft_steps, lr=0.1, wd=1e-4)
    sets = {}
    for name, n in (
        ("pairs", cfg.n_pairs),
        ("small_rm_pairs", cfg.n_small_rm_pairs * cfg.n_proxies),
        ("test_pairs", cfg.n_test_pairs),
    ):
        pairs, _ = X.preference_pairs(world, ref, n, g)
        sets[name] = pairs.__dict__
    return {"ref": ref.state_dict(), **sets}


def check_context(cfg: LMConfig, sft: Transformer) -> None:
    """A prompt and its response must fit in the upstream model's context: generation stops at
    it (a longer response was cut short without a word) and a longer prompt fails there."""
    seq_len = sft.params.max_seq_len
    if cfg.prompt_len + cfg.new_tokens > seq_len:
        raise TopiclabError(
            f"lm.prompt_len ({cfg.prompt_len}) + lm.new_tokens ({cfg.new_tokens}) is more than "
            f"the llama topic's model.seq_len ({seq_len}) tokens its model reads: lower them, "
            "or raise llama:model.seq_len"
        )


def lm_data(cfg: LMConfig, sft: Transformer, text: str, seed: int) -> dict[str, Any]:
    """Prompts (held-out windows; their own continuations are SLiC's SFT targets), SFT samples
    labelled by Bradley–Terry on the gold reward, and the evaluation prompts."""
    plen, n_tr, n_te = cfg.prompt_len, cfg.n_pairs, cfg.n_test_pairs
    windows = M.prompt_windows(text, n_tr + n_te + cfg.n_eval, plen, cfg.new_tokens, seed)
    sample = M.sampler(cfg.new_tokens)
    g = torch.Generator().manual_seed(seed + 3)
    out: dict[str, Any] = {"eval_prompts": windows[n_tr + n_te :, :plen]}
    for name, rows in (("pairs", windows[:n_tr]), ("test_pairs", windows[n_tr : n_tr + n_te])):
        a = torch.cat([sample(sft, c, g) for c in rows[:, :plen].split(256)])
        b = torch.cat([sample(sft, c, g) for c in rows[:, :plen].split(256)])
        p = torch.sigmoid(M.gold_reward(a, plen) - M.gold_reward(b, plen))
        first = torch.rand(len(rows), generator=g) < p
        chosen = torch.where(first[:, None], a, b)
        rejected = torch.where(first[:, None], b, a)
        out[name] = P.Pairs(chosen, rejected, rows).__dict__
        out[f"{name}_prompts"] = rows[:, :plen]
    return out


def generate(ctx: StageContext, cfg: RLLLMConfig) -> StageResult:
    model_path = str(ctx.upstream["model"].path)
    text = Path(ctx.upstream["held_out"].path).read_text("utf-8")
    sft = M.load_sft(model_path)
    check_context(cfg.lm, sft)  # before the exact world's work
    with torch_threads(cfg.threads):
        ex = exact_data(cfg.exact, cfg.seed)
        lmd = lm_data(cfg.lm, sft, text, cfg.seed)
    torch.save(ex, ctx.path("exact.pt"))
    torch.save(lmd, ctx.path("lm.pt"))
    rewards = M.gold_reward(lmd["pairs"]["chosen"], cfg.lm.prompt_len)
    return StageResult(
        metrics={
            "exact_pairs": cfg.exact.n_pairs,
            "lm_pairs": cfg.lm.n_pairs,
            "lm_chosen_gold_mean": float(rewards.mean()),
        },
        files={
            "exact": str(ctx.path("exact.pt")),
            "lm": str(ctx.path("lm.pt")),
            "sft_model": model_path,
        },
        params={"upstream_model": ctx.upstream["model"].cache_key},
    )
