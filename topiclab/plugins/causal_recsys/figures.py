"""Figures of causal-recsys (matplotlib, Agg), written as PNG into the evaluate stage's folder.

    figs = topic_figures(ctx, cfg, data, trained, scm, loss, ranking)   # name -> PNG path

Estimates against the truth with intervals, the IPS-vs-naive loss estimates over loggings,
NDCG@20 per method with SEs, recommendation frequency against popularity per method (the bias
plot), and the graphs: the SCM as the user gave it and with U observed, and the PDA graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from topiclab.causal.graph import CausalGraph
from topiclab.core.figures import save_figure
from topiclab.core.topic import StageContext, StageResult
from topiclab.plugins.causal_recsys import data as d
from topiclab.plugins.causal_recsys.config import CausalRecsysConfig

PDA_GRAPH = "Z -> I; Z -> C; U -> C; I -> C"  # popularity Z confounds exposure I and click C


def estimates_plot(scm: dict[str, Any], path: Path) -> str:
    names = ["intervention", "naive", "backdoor", "frontdoor", "user_graph"]
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for y, name in enumerate(names):
        f = scm[name]
        ax.errorbar(
            f["estimate"],
            y,
            xerr=[[f["estimate"] - f["ci_low"]], [f["ci_high"] - f["estimate"]]],
            fmt="o",
            capsize=4,
        )
    ax.axvline(d.TRUE_ACE, ls="--", color="black", lw=1, label="truth 0.25")
    ax.set_yticks(
        range(len(names)),
        ["do(X) simulated", "naive", "backdoor (U seen)", "front door (U hidden)", "user's graph"],
    )
    ax.set_xlabel("effect of X on Y (95% CI)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def loss_plot(loss: pd.DataFrame, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for col in ("naive", "ips", "snips"):
        ax.hist(loss[col], bins=30, alpha=0.55, label=col)
    ax.axvline(loss["truth"].iloc[0], color="black", ls="--", lw=1, label="true loss")
    ax.set_xlabel("estimated loss of the fixed model, one value per logging")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def ranking_plot(ranking: pd.DataFrame, path: Path) -> str:
    ok = ranking[ranking["worlds"] > 0]
    y = np.arange(len(ok))
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(ok) + 1.4))
    for shift, col, label, color in (
        (-0.2, "ndcg20", "random exposure, clicks with conformity", "#8ab6f9"),
        (0.2, "ndcg20_do", "intervened: popularity cut from the item", "#f4a261"),
    ):
        err = ok[f"{col}_se"]
        ax.barh(y + shift, ok[col], height=0.4, xerr=err, capsize=3, color=color, label=label)
    ax.set_yticks(y, ok["method"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("NDCG@20 on the next stage's test logs (mean ± SE over worlds)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def bias_plot(
    cfg: CausalRecsysConfig, data: StageResult, trained: StageResult, path: Path, bins: int = 20
) -> str:
    """Mean recommendation frequency per popularity bin (world 0), per method, with the
    training clicks for reference: a curve steeper than the log's amplifies popularity."""
    world = d.load_world(data.files["world_0"])
    train = d.load_log(data.files["train_0"])
    order = np.argsort(world.popularity)
    groups = np.array_split(order, bins)
    x = [world.popularity[g].mean() for g in groups]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    clicks = np.bincount(train.items, weights=train.clicks, minlength=train.n_items)
    ax.plot(
        x, [clicks[g].sum() / clicks.sum() for g in groups], "k--", lw=2, label="training clicks"
    )
    for key in cfg.recommenders:
        top_path = trained.files.get(f"top_{key}_0")
        if top_path is None:
            continue
        freq = np.bincount(np.load(top_path).ravel(), minlength=train.n_items)
        ax.plot(x, [freq[g].sum() / freq.sum() for g in groups], marker=".", label=key)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)  # the tail's shares are small but not zero
    ax.set_xlabel("item popularity z at the test stage (bins of equal size)")
    ax.set_ylabel("share of top-20 slots")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def topic_figures(
    ctx: StageContext,
    cfg: CausalRecsysConfig,
    data: StageResult,
    trained: StageResult,
    scm: dict[str, Any],
    loss: pd.DataFrame,
    ranking: pd.DataFrame,
) -> dict[str, str]:
    roles: dict[str, Sequence[str]] = {"treatment": ["X"], "outcome": ["Y"]}
    out = {
        "scm_estimates": estimates_plot(scm, ctx.path("scm_estimates.png")),
        "loss_check": loss_plot(loss, ctx.path("loss_check.png")),
        "ndcg": ranking_plot(ranking, ctx.path("ndcg.png")),
        "popularity_bias": bias_plot(cfg, data, trained, ctx.path("popularity_bias.png")),
    }
    strategy = scm["user_graph"]["strategy"]
    out["user_graph"] = str(
        CausalGraph.parse(cfg.scm.graph).draw(
            ctx.path("user_graph.png"),
            roles=roles,
            title=f"the user's graph: {strategy} identifies",
        )
    )
    out["scm_observed_graph"] = str(
        CausalGraph.parse(d.SCM_OBSERVED).draw(
            ctx.path("scm_observed.png"), roles=roles, title="U measured: backdoor over {U}"
        )
    )
    out["pda_graph"] = str(
        CausalGraph.parse(PDA_GRAPH).draw(
            ctx.path("pda_graph.png"),
            roles={"treatment": ["I"], "outcome": ["C"]},
            title="PDA: popularity Z confounds exposure I and click C",
        )
    )
    return out
