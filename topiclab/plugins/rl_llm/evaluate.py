"""The evaluate stage: exact measurements in the exact world, Monte-Carlo ones in the LM world.

    from topiclab.plugins.rl_llm.evaluate import evaluate
    result = evaluate(ctx, cfg, data, trained)     # metrics, tables, figures, claims

Exact world: E_π[r], KL(π ‖ π_ref) and KL(π*_β ‖ π) by enumeration, the exact frontier, reward
models' expected accuracy against the Bayes accuracy, the over-optimisation curve and the PPO
ablation (mean ± SE over seeds). LM world: gold reward of one sample per held-out prompt for
the SFT model and each method, the win rate against the SFT sample of the same prompt (ties
count ½; 95% normal intervals), a Monte-Carlo KL to the SFT model, samples before and after.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from topiclab.core.report import md_records
from topiclab.core.topic import StageContext, StageResult
from topiclab.nn import preference as P
from topiclab.nn.threads import torch_threads
from topiclab.plugins.rl_llm import exact as X
from topiclab.plugins.rl_llm import lm as M
from topiclab.plugins.rl_llm.claims import build_claims
from topiclab.plugins.rl_llm.config import ExactConfig, LMConfig, RLLLMConfig
from topiclab.plugins.rl_llm.data import exact_world
from topiclab.plugins.rl_llm.figures import topic_figures

# the monitored iterations of the over-optimisation run (the others lack gold/proxy)
OVEROPT_COLUMNS = ("step", "gold", "proxy", "kl_exact", "score", "kl", "beta")
FRONTIER_BETAS = [float(b) for b in np.geomspace(0.05, 50, 60)]
# over-optimisation: down to β = 0.005 and best of 2²⁰, where the proxy's optimum is its argmax
OVEROPT_BETAS = [float(b) for b in np.geomspace(0.005, 50, 60)]
BEST_OF_N = [2**i for i in range(21)]
SWEEP_COLUMNS = ("sweep", "beta", "n", "kl", "kl_formula", "gold", "gold_se", "proxy")


def mean_se(x: Tensor | np.ndarray | list[float]) -> tuple[float, float]:
    a = np.asarray(x, dtype=float)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else 0.0


def rm_accuracy(
    scores_c: Tensor, scores_r: Tensor, gold_c: Tensor, gold_r: Tensor
) -> dict[str, float]:
    """Expected accuracy on the Bradley–Terry labels (exact given p = σ(r_c − r_r)) and the
    Bayes accuracy E[max(p, 1 − p)]."""
    p = torch.sigmoid(gold_c - gold_r)
    pref = scores_c > scores_r
    return {
        "accuracy": float(torch.where(pref, p, 1 - p).mean()),
        "bayes": float(torch.maximum(p, 1 - p).mean()),
    }


def below_frontier(kl: float, reward: float, frontier: list[dict[str, float]]) -> bool:
    """Whether (kl, reward) lies on or under the exact frontier (interpolated in KL)."""
    ks = [f["kl"] for f in frontier][::-1]
    rs = [f["reward"] for f in frontier][::-1]
    return reward <= float(np.interp(kl, ks, rs)) + 1e-3


def exact_eval(cfg: ExactConfig, seed: int, data_path: str, train_path: str) -> dict[str, Any]:
    d = torch.load(data_path, weights_only=False)
    t = torch.load(train_path, weights_only=False)
    world = exact_world(cfg, seed)
    ref = world.new_policy()
    ref.load_state_dict(d["ref"])
    ref_logp = world.logp(ref)
    frontier = world.frontier(ref_logp, FRONTIER_BETAS)
    rows = []
    for run, state in t["policies"].items():
        if run.startswith(("ablation/", "overopt")):
            continue
        pol = world.new_policy()
        pol.load_state_dict(state)
        lp = world.logp(pol)
        key, _, b = run.partition("@")
        beta = float(b) if b else cfg.claim_beta
        opt = world.optimum_logp(ref_logp, beta)
        m, mo = world.measure(lp, ref_logp), world.measure(opt, ref_logp)
        rows.append(
            {
                "method": key,
                "beta": float(b) if b else None,
                "reward": m["reward"],
                "kl": m["kl"],
                "opt_reward": mo["reward"],
                "opt_kl": mo["kl"],
                "kl_opt_to_pi": world.kl_between(opt, lp),
                "below_frontier": below_frontier(m["kl"], m["reward"], frontier),
            }
        )
    tp = P.Pairs(**d["test_pairs"])
    rms = {}
    for name, state in t["rms"].items():
        rm = world.new_scalar()
        rm.load_state_dict(state)
        with torch.no_grad():
            sc = P.scalar_scores(rm, tp.chosen, 1), P.scalar_scores(rm, tp.rejected, 1)
        rms[name] = rm_accuracy(*sc, world.reward(tp.chosen), world.reward(tp.rejected))
    rms["proxy"], sweeps = proxy_results(cfg, world, ref_logp, t["proxies"], tp)
    pairs = P.Pairs(**d["pairs"])
    with torch.no_grad():
        lw, ll = (
            P.sequence_logprobs(ref, pairs.chosen, 1),
            P.sequence_logprobs(ref, pairs.rejected, 1),
        )
    return {
        "rows": rows,
        "frontier": frontier,
        "rms": rms,
        "ref": world.measure(ref_logp, ref_logp),
        "dpo_init_loss": float(P.dpo_loss(lw, ll, lw, ll, 1.0).mean()),
        "overopt": t["histories"].get("overopt", []),
        "overopt_sweeps": sweeps,
        "overopt_mean": {kind: mean_curve(curves) for kind, curves in sweeps.items()},
        "ablation": ablation_rows(cfg, world, ref_logp, t),
        "ppo_first": ppo_first(t["histories"]),
        "errors": t["errors"],
    }


def proxy_results(
    cfg: ExactConfig, world: X.ExactWorld, ref_logp: Tensor, states: list[Any], tp: P.Pairs
) -> tuple[dict[str, float], dict[str, list[list[dict[str, float]]]]]:
    """The imperfect reward models' mean held-out accuracy (and Bayes), and each one's exact
    β sweep and best-of-n sweep."""
    accs, tables = [], []
    for state in states:
        proxy = world.new_proxy(cfg.proxy)
        proxy.load_state_dict(state)
        with torch.no_grad():
            sc = P.scalar_scores(proxy, tp.chosen, 1), P.scalar_scores(proxy, tp.rejected, 1)
        accs.append(rm_accuracy(*sc, world.reward(tp.chosen), world.reward(tp.rejected)))
        tables.append(world.scalar_table(proxy))
    acc = {k: float(np.mean([a[k] for a in accs])) for k in ("accuracy", "bayes")}
    return acc, {
        "beta": [world.proxy_sweep(ref_logp, tb, OVEROPT_BETAS) for tb in tables],
        "best_of_n": [world.best_of_n_sweep(ref_logp, tb, BEST_OF_N) for tb in tables],
    }


def ablation_rows(
    cfg: ExactConfig, world: X.ExactWorld, ref_logp: Tensor, t: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = []
    for name in cfg.ablation:
        rewards, kls, failed = [], [], 0
        for s in range(cfg.ablation_seeds):
            state = t["policies"].get(f"ablation/{name}/{s}")
            if state is None:
                failed += 1
                continue
            pol = world.new_policy()
            pol.load_state_dict(state)
            m = world.measure(world.logp(pol), ref_logp)
            rewards.append(m["reward"])
            kls.append(m["kl"])
        (r, r_se), (k, k_se) = (mean_se(rewards or [math.nan]), mean_se(kls or [math.nan]))
        rows.append(
            {
                "config": name,
                "seeds": len(rewards),
                "failed": failed,
                "gold_reward": r,
                "gold_reward_se": r_se,
                "gold_reward_sd": float(np.std(rewards, ddof=1)) if len(rewards) > 1 else 0.0,
                "kl": k,
                "kl_se": k_se,
            }
        )
    return rows


def ppo_first(histories: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    """Largest |ρ − 1| and clip fraction on the first minibatch of any PPO iteration."""
    rows = [h for hs in histories.values() for h in hs if "ratio_dev_first" in h]
    return {
        "ratio_dev": max((h["ratio_dev_first"] for h in rows), default=math.nan),
        "clipfrac": max((h["clipfrac_first"] for h in rows), default=math.nan),
        "iterations": float(len(rows)),
    }


def lm_eval(
    cfg: LMConfig, seed: int, data_path: str, train_path: str, sft_path: str
) -> dict[str, Any]:
    d = torch.load(data_path, weights_only=False)
    t = torch.load(train_path, weights_only=False)
    sft, plen = M.load_sft(sft_path), cfg.prompt_len
    prompts = d["eval_prompts"]
    sample = M.sampler(cfg.new_tokens)
    base = sample(sft, prompts, torch.Generator().manual_seed(seed + 100))
    base_r = M.gold_reward(base, plen)
    rows, samples = [], {"SFT": base}
    rows.append({"method": "SFT", **_stats(base_r, base_r, torch.zeros(len(base)))})
    for key, state in t["policies"].items():
        pol = M.trainable_copy(sft)
        pol.load_state_dict(state)
        pol.eval()
        seqs = sample(pol, prompts, torch.Generator().manual_seed(seed + 200))
        with torch.no_grad():
            kl = P.sequence_logprobs(pol, seqs, plen) - P.sequence_logprobs(sft, seqs, plen)
        rows.append({"method": key, **_stats(M.gold_reward(seqs, plen), base_r, kl)})
        samples[key] = seqs
    tp = P.Pairs(**d["test_pairs"])
    rm = M.LlamaScalar(sft)
    rm.load_state_dict(t["rm"])
    with torch.no_grad():
        sc = P.scalar_scores(rm, tp.chosen, plen), P.scalar_scores(rm, tp.rejected, plen)
    acc = rm_accuracy(*sc, M.gold_reward(tp.chosen, plen), M.gold_reward(tp.rejected, plen))
    shown = [
        {
            "prompt": M.decode(prompts[i]),
            **{
                k: f"{M.decode(s[i, plen:])!r} ({float(M.gold_reward(s[i : i + 1], plen)):g})"
                for k, s in samples.items()
            },
        }
        for i in range(min(cfg.n_samples_shown, len(prompts)))
    ]
    return {"rows": rows, "rm": acc, "samples": shown, "errors": t["errors"]}


def _stats(r: Tensor, base: Tensor, kl: Tensor) -> dict[str, float]:
    win = (r > base).float() + 0.5 * (r == base).float()
    (g, g_se), (w, w_se), (k, k_se) = mean_se(r), mean_se(win), mean_se(kl)
    return {
        "gold": g,
        "gold_se": g_se,
        "gold_gain": g - float(base.mean()),
        "gain_se": mean_se(r - base)[1],
        "win_rate": w,
        "win_lo": w - 1.96 * w_se,
        "win_hi": w + 1.96 * w_se,
        "kl": k,
        "kl_se": k_se,
    }


def metrics_of(ex: dict[str, Any], lmr: dict[str, Any], cfg: RLLLMConfig) -> dict[str, float]:
    mt: dict[str, float] = {
        "exact_ref_reward": ex["ref"]["reward"],
        "dpo_init_loss": ex["dpo_init_loss"],
        "ppo_first_ratio_dev": ex["ppo_first"]["ratio_dev"],
        "ppo_first_clipfrac": ex["ppo_first"]["clipfrac"],
    }
    for r in ex["rows"]:
        tag = f"exact_{r['method']}" + (f"_b{r['beta']:g}" if r["beta"] is not None else "")
        mt |= {
            f"{tag}_reward": r["reward"],
            f"{tag}_kl": r["kl"],
            f"{tag}_kl_opt": r["kl_opt_to_pi"],
            f"{tag}_opt_reward": r["opt_reward"],
        }
    for name, acc in ex["rms"].items():
        mt |= {f"exact_{name}_rm_acc": acc["accuracy"], f"exact_{name}_bayes": acc["bayes"]}
    mt |= {"lm_rm_acc": lmr["rm"]["accuracy"], "lm_bayes": lmr["rm"]["bayes"]}
    for r in lmr["rows"]:
        mt |= {
            f"lm_{r['method']}_{k}": r[k]
            for k in ("gold", "gold_gain", "gain_se", "win_rate", "win_lo", "win_hi", "kl")
        }
    if ex["overopt"]:
        gold = [h["gold"] for h in ex["overopt"] if "gold" in h]
        proxy = [h["proxy"] for h in ex["overopt"] if "proxy" in h]
        peak = int(np.argmax(gold))
        mt |= {
            "overopt_gold_peak": gold[peak],
            "overopt_gold_final": gold[-1],
            "overopt_proxy_at_peak": proxy[peak],
            "overopt_proxy_final": proxy[-1],
        }
    for kind, curves in ex["overopt_sweeps"].items():
        mt |= sweep_metrics(kind, curves)
    for run in ex["errors"]:  # a failed method's claims read NaN: they fail, and say why
        key, _, b = run.partition("@")
        tag = f"exact_{key}" + (f"_b{float(b):g}" if b else "")
        mt |= {f"{tag}_{k}": math.nan for k in ("reward", "kl", "kl_opt", "opt_reward")}
    mt["failed_methods"] = float(len(ex["errors"]) + len(lmr["errors"]))
    return mt


def mean_curve(curves: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """The imperfect reward models' sweeps, point by point (same β or n): means and the gold
    reward's SE across reward models."""
    out = []
    for points in zip(*curves, strict=True):
        gold = [p["gold"] for p in points]
        row = {k: float(np.mean([p[k] for p in points])) for k in points[0]}
        out.append(row | {"gold_se": mean_se(gold)[1]})
    return out


def sweep_metrics(kind: str, curves: list[list[dict[str, float]]]) -> dict[str, float]:
    """Over-optimisation along one sweep (KL growing along each curve): the mean gold
    reward's peak against its value at the largest KL, the fall's SE across reward models
    (paired: each model's gold at the end minus at the peak), and the mean proxy at both."""
    mean = mean_curve(curves)
    i = int(np.argmax([r["gold"] for r in mean]))
    fall_se = mean_se([c[-1]["gold"] - c[i]["gold"] for c in curves])[1]
    peak, end = mean[i], mean[-1]
    return {
        f"overopt_{kind}_gold_peak": peak["gold"],
        f"overopt_{kind}_kl_at_peak": peak["kl"],
        f"overopt_{kind}_proxy_at_peak": peak["proxy"],
        f"overopt_{kind}_gold_end": end["gold"],
        f"overopt_{kind}_kl_end": end["kl"],
        f"overopt_{kind}_proxy_end": end["proxy"],
        f"overopt_{kind}_fall_se": fall_se,
    }


def evaluate(
    ctx: StageContext, cfg: RLLLMConfig, data: StageResult, trained: StageResult
) -> StageResult:
    with torch_threads(cfg.threads):
        ex = exact_eval(cfg.exact, cfg.seed, data.files["exact"], trained.files["exact_train"])
        lmr = lm_eval(
            cfg.lm, cfg.seed, data.files["lm"], trained.files["lm_train"], data.files["sft_model"]
        )
    mt = metrics_of(ex, lmr, cfg)
    tables = {
        "exact_methods": ctx.write_table("exact_methods.csv", ex["rows"]),
        "exact_frontier": ctx.write_table("exact_frontier.csv", ex["frontier"]),
        "ppo_ablation": ctx.write_table("ppo_ablation.csv", ex["ablation"]),
        "lm_methods": ctx.write_table("lm_methods.csv", lmr["rows"]),
        "lm_samples": ctx.write_table("lm_samples.csv", lmr["samples"]),
    }
    if ex["overopt"]:
        rows = [{k: h.get(k) for k in OVEROPT_COLUMNS} for h in ex["overopt"] if "gold" in h]
        tables["overoptimisation"] = ctx.write_table("overoptimisation.csv", rows)
    sweep_rows = [
        {k: ({"sweep": kind} | row).get(k) for k in SWEEP_COLUMNS}
        for kind, curve in ex["overopt_mean"].items()
        for row in curve
    ]
    tables["overopt_sweep"] = ctx.write_table("overopt_sweep.csv", sweep_rows)
    errors = {f"exact/{k}": v for k, v in ex["errors"].items()}
    errors |= {f"lm/{k}": v for k, v in lmr["errors"].items()}
    return StageResult(
        metrics=mt,
        tables=tables,
        figures=topic_figures(ctx, ex, lmr),
        claims=build_claims(cfg, mt, ex, lmr),
        sections={
            "Failed methods": failed_md(errors),
            "Language-model world": "<!-- table:lm_methods -->\n\n<!-- table:lm_samples -->",
            "Exact world": "<!-- table:exact_methods -->\n\n<!-- table:ppo_ablation -->",
        },
        data={"errors": errors},
    )


def failed_md(errors: dict[str, str]) -> str:
    if not errors:
        return "Every method finished."
    rows = [{"method": k, "error": v} for k, v in errors.items()]
    return "These methods failed; every other method's results stand.\n\n" + md_records(rows)
