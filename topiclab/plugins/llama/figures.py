"""Figures of the llama report (matplotlib, Agg): the loss curve, and bits per character next
to the KV-cache size of each attention type.

    figs = topic_figures(ctx, history, metrics, kv_rows)   # in evaluate: name -> PNG path
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from topiclab.core.figures import save_figure
from topiclab.core.topic import StageContext


def topic_figures(
    ctx: StageContext,
    history: list[dict[str, str]],
    metrics: dict[str, float],
    kv_rows: list[dict[str, Any]],
) -> dict[str, str]:
    """Every figure of the report, name -> PNG path."""
    return {
        "loss": loss_curve(ctx, history, metrics["bigram_bpc"]),
        "bpc_kv": bpc_and_kv(ctx, metrics, kv_rows),
    }


def loss_curve(ctx: StageContext, history: list[dict[str, str]], bigram_bpc: float) -> str:
    """Training loss and the validation estimates in bits per token, with the bigram line."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [float(h["step"]) for h in history]
    ax.plot(steps, [float(h["loss"]) / np.log(2) for h in history], lw=0.8, label="train")
    val = [(float(h["step"]), float(h["val_loss"]) / np.log(2)) for h in history if h["val_loss"]]
    ax.plot(*zip(*val, strict=True), "o-", label="validation (estimate)")
    ax.axhline(bigram_bpc, color="gray", ls="--", label="bigram baseline")
    ax.set(xlabel="step", ylabel="bits per token", title="Training loss")
    ax.legend()
    return save_figure(fig, ctx.path("loss.png"))


def bpc_and_kv(ctx: StageContext, metrics: dict[str, float], kv_rows: list[dict[str, Any]]) -> str:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    names = ["unigram", "bigram", "mini Llama"]
    a1.bar(names, [metrics["unigram_bpc"], metrics["bigram_bpc"], metrics["val_bpc"]])
    a1.set(ylabel="bits per character", title="Held-out plays")
    a2.bar(
        [f"{r['attention']} ({r['n_kv_heads']})" for r in kv_rows],
        [r["kv_bytes_per_token_fp32"] for r in kv_rows],
    )
    a2.set(ylabel="KV bytes per token (fp32)", title="KV cache by attention type")
    return save_figure(fig, ctx.path("bpc_kv.png"))
