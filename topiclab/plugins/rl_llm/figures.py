"""Figures of the rl-llm report (matplotlib, Agg): the exact reward–KL frontier with every
method's points, the over-optimisation curve, the PPO ablation, and the LM world's gains.

    figs = topic_figures(ctx, ex, lmr)     # in evaluate: name -> PNG path
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from topiclab.core.figures import save_figure
from topiclab.core.topic import StageContext

MARKERS = {"ppo": "o", "dpo": "s", "ipo": "^", "slic-hf": "D"}


def topic_figures(ctx: StageContext, ex: dict[str, Any], lmr: dict[str, Any]) -> dict[str, str]:
    """Every figure of the report, name -> PNG path."""
    figs = {
        "frontier": frontier(ctx, ex),
        "ablation": ablation(ctx, ex["ablation"]),
        "lm_gold": lm_gold(ctx, lmr["rows"]),
    }
    figs["overoptimisation"] = overopt(ctx, ex)
    return figs


def _save(ctx: StageContext, fig: Any, name: str) -> str:
    return save_figure(fig, ctx.path(f"{name}.png"))


def frontier(ctx: StageContext, ex: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    f = ex["frontier"]
    ax.plot(
        [p["kl"] for p in f],
        [p["reward"] for p in f],
        "k-",
        lw=1.5,
        label="exact optimum π*_β (β sweep)",
    )
    for method in dict.fromkeys(r["method"] for r in ex["rows"]):
        pts = [r for r in ex["rows"] if r["method"] == method]
        ax.scatter(
            [r["kl"] for r in pts],
            [r["reward"] for r in pts],
            marker=MARKERS.get(method, "x"),
            label=method,
            zorder=3,
        )
        for r in pts:
            if r["beta"] is not None:
                ax.annotate(
                    f"β={r['beta']:g}",
                    (r["kl"], r["reward"]),
                    fontsize=6,
                    xytext=(3, -8),
                    textcoords="offset points",
                )
    ax.axhline(ex["ref"]["reward"], color="gray", ls=":", label="π_ref")
    ax.set(
        xlabel="KL(π ‖ π_ref) (nats, exact)",
        ylabel="E_π[gold reward] (exact)",
        title="Exact world: reward–KL frontier",
    )
    ax.legend(fontsize=8)
    return _save(ctx, fig, "frontier")


def overopt(ctx: StageContext, ex: dict[str, Any]) -> str:
    """Gold (mean ± SE over the imperfect reward models) and proxy reward against KL for the
    β sweep and best-of-n, and PPO's trajectory against the first reward model."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for kind, m in ex["overopt_mean"].items():
        kl = [r["kl"] for r in m]
        gold = np.array([r["gold"] for r in m])
        se = np.array([r["gold_se"] for r in m])
        a1.plot(kl, gold, ".-", label=f"{kind}: gold")
        a1.fill_between(kl, gold - se, gold + se, alpha=0.2)
        a2.plot(kl, [r["proxy"] for r in m], ".--", label=f"{kind}: proxy")
    rows = [h for h in ex["overopt"] if "gold" in h]
    if rows:
        a1.plot([h["kl_exact"] for h in rows], [h["gold"] for h in rows], "k+", label="PPO: gold")
        a2.plot([h["kl_exact"] for h in rows], [h["proxy"] for h in rows], "k+", label="PPO: proxy")
    a1.set(
        xlabel="KL(π ‖ π_ref) (exact)",
        ylabel="gold reward (exact)",
        title="Gold reward (mean ± SE over reward models)",
    )
    a2.set(xlabel="KL(π ‖ π_ref) (exact)", ylabel="proxy reward", title="Proxy reward")
    a1.legend(fontsize=7)
    a2.legend(fontsize=7)
    fig.suptitle("Over-optimisation of imperfect reward models (exact world)")
    return _save(ctx, fig, "overoptimisation")


def ablation(ctx: StageContext, rows: list[dict[str, Any]]) -> str:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    names = [r["config"] for r in rows]
    a1.barh(names, [r["gold_reward"] for r in rows], xerr=[r["gold_reward_se"] for r in rows])
    a1.set(xlabel="gold reward (mean ± SE over seeds)")
    a2.barh(names, [r["kl"] for r in rows], xerr=[r["kl_se"] for r in rows], color="tab:orange")
    a2.set(xlabel="KL(π ‖ π_ref) (mean ± SE)")
    fig.suptitle("PPO-trick ablation (exact world)")
    return _save(ctx, fig, "ablation")


def lm_gold(ctx: StageContext, rows: list[dict[str, Any]]) -> str:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    names = [r["method"] for r in rows]
    a1.bar(names, [r["gold"] for r in rows], yerr=[1.96 * r["gold_se"] for r in rows])
    a1.set(ylabel="gold reward (mean, 95% CI)", title="LM world: gold reward")
    lo = [r["win_rate"] - r["win_lo"] for r in rows]
    a2.bar(names, [r["win_rate"] for r in rows], yerr=lo, color="tab:green")
    a2.axhline(0.5, color="gray", ls="--")
    a2.set(ylabel="win rate vs SFT (95% CI)", title="LM world: win rate")
    return _save(ctx, fig, "lm_gold")
