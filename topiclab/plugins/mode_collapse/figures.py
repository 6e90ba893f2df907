"""Figures of the mode-collapse topic (matplotlib Agg, PNG): samples per method and seed, a
strip of GAN checkpoints, Lipschitz constant vs modes, the two KL fits, the ±x regression,
and stacked-digit samples beside real ones.

    path = kl_figure(metrics, ctx.path("kl_directions.png"))    # each function: one PNG
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from topiclab.core.figures import save_figure
from topiclab.plugins.mode_collapse.data import bimodal_pdf, mixture, normal_pdf

if TYPE_CHECKING:
    from topiclab.core.topic import StageContext, StageResult
    from topiclab.plugins.mode_collapse.config import ModeCollapseConfig


def _points(ax: Any, x: np.ndarray, means: np.ndarray, pad: float) -> None:
    ax.scatter(means[:, 0], means[:, 1], s=30, c="none", edgecolors="tab:red", lw=0.8)
    ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4)
    lo, hi = means.min(0) - pad, means.max(0) + pad
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xticks([])
    ax.set_yticks([])


def scatter_runs(
    ctx: StageContext,
    cfg: ModeCollapseConfig,
    trained: StageResult,
    dataset: str,
    runs: list[dict],
    path: Path,
) -> str:
    """Rows: methods; columns: seeds (red circles: the true modes; empty: a failed seed)."""
    methods, means = cfg.methods(dataset), mixture(dataset).means
    pad = 0.5 if dataset == "ring" else 1.0
    fig, axes = plt.subplots(
        len(methods), cfg.seeds, squeeze=False, figsize=(1.9 * cfg.seeds, 1.9 * len(methods))
    )
    status = {(r["method"], r["seed"]): r for r in runs if r["dataset"] == dataset}
    for i, method in enumerate(methods):
        for s in range(cfg.seeds):
            ax, r = axes[i][s], status[(method, s)]
            if r["status"] == "ok":
                _points(ax, np.load(trained.files[f"{dataset}-{method}-s{s}"]), means, pad)
                ax.set_title(f"{r['modes']:.0f} modes, {100 * r['hq_frac']:.0f}% HQ", fontsize=7)
            else:
                ax.text(0.5, 0.5, "failed", ha="center", transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
            if s == 0:
                ax.set_ylabel(method, fontsize=9)
    return save_figure(fig, path, dpi=80)


def checkpoint_strip(frames: dict[int, np.ndarray], means: np.ndarray, path: Path, title: str):
    steps = sorted(frames)
    fig, axes = plt.subplots(1, len(steps), figsize=(1.9 * len(steps), 2.2), squeeze=False)
    for ax, t in zip(axes[0], steps, strict=True):
        _points(ax, frames[t], means, 0.5)
        ax.set_title(f"step {t}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=80)


def stacked_tiles(rows: dict[str, np.ndarray], path: Path, per_row: int = 16) -> str:
    """One row per source: its first ``per_row`` samples (3 × 8 × 8 values in [0, 1], flat or
    not), each an RGB tile whose channels are the three stacked digits (Stacked MNIST's colours)."""
    fig, axes = plt.subplots(
        len(rows), 1, squeeze=False, figsize=(0.55 * per_row, 0.75 * len(rows) + 0.2)
    )
    for ax, (label, x) in zip(axes[:, 0], rows.items(), strict=True):
        tiles = np.clip(x[:per_row].reshape(-1, 3, 8, 8), 0, 1).transpose(0, 2, 3, 1)  # RGB
        gap = np.ones((8, 1, 3))
        ax.imshow(np.concatenate([c for t in tiles for c in (t, gap)], axis=1))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    return save_figure(fig, path, dpi=90)


def lipschitz_scatter(runs: list[dict], path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for method in sorted({r["method"] for r in runs}):
        pts = [r for r in runs if r["method"] == method]
        ax.scatter([r["lipschitz"] for r in pts], [r["modes_1pct"] for r in pts], label=method)
    ax.set_xscale("log")
    ax.set_xlabel("empirical Lipschitz constant max ‖∂G/∂z‖₂")
    ax.set_ylabel("ring modes with ≥ 1 % of samples")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=90)


def kl_figure(m: dict[str, float], path: Path) -> str:
    x = np.linspace(-6, 6, 600)
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(x, bimodal_pdf(x), "k", label="p: 0.5·N(−2, 0.5²) + 0.5·N(2, 0.5²)")
    fwd = normal_pdf(x, m["bimodal.forward_mu"], np.sqrt(m["bimodal.forward_var"]))
    ax.plot(x, fwd, label=f"forward KL(p‖q): σ² = {m['bimodal.forward_var']:.2f}")
    rev = normal_pdf(x, m["bimodal.reverse_mu"], m["bimodal.reverse_sigma"])
    ax.plot(x, rev, label=f"reverse KL(q‖p): μ = {m['bimodal.reverse_mu']:.2f}")
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=90)


def regression_figure(r: Any, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.scatter(r["data_x"][:, 0], r["data_y"][:, 0], s=1, alpha=0.3, c="gray", label="data")
    ax.plot(r["x"][:, 0], r["mse"][:, 0], "r", label="MSE regressor")
    for k in range(r["mu"].shape[1]):
        ax.plot(
            r["x"][:, 0],
            r["mu"][:, k, 0],
            "b--",
            lw=1,
            label="MDN component means" if k == 0 else None,
        )
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=90)
