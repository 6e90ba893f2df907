"""Figures of the diffusion topic (matplotlib Agg, PNG files): sample scatter plots, reverse
trajectories, digits panels and loss curves.

    path = scatter_grid({"ring": {"real": x, "model": samples}}, ctx.path("samples_2d.png"))
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from topiclab.core.figures import save_figure

if TYPE_CHECKING:
    from topiclab.core.topic import StageContext, StageResult
    from topiclab.plugins.diffusion.config import DiffusionConfig


def scatter_grid(rows: dict[str, dict[str, np.ndarray]], path: Path) -> str:
    """One row per dataset, one column per sample source (real, model, baselines)."""
    cols = list(next(iter(rows.values())))
    fig, axes = plt.subplots(
        len(rows), len(cols), figsize=(2.4 * len(cols), 2.4 * len(rows)), squeeze=False
    )
    for i, (name, sets) in enumerate(rows.items()):
        ref = sets[cols[0]]
        lo, hi = ref.min(0) - 0.5, ref.max(0) + 0.5
        for j, col in enumerate(cols):
            ax = axes[i][j]
            if col in sets:
                ax.scatter(sets[col][:, 0], sets[col][:, 1], s=1, alpha=0.5)
            ax.set_xlim(lo[0], hi[0])
            ax.set_ylim(lo[1], hi[1])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col, fontsize=9)
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    return save_figure(fig, path, dpi=90)


def trajectory_strip(frames: dict[int, np.ndarray], path: Path, title: str) -> str:
    """x_t from t = T (noise) to t = 0 (samples): 2-D points as scatters, images as grids."""
    times = sorted(frames, reverse=True)
    fig, axes = plt.subplots(1, len(times), figsize=(2.2 * len(times), 2.4), squeeze=False)
    for ax, t in zip(axes[0], times, strict=True):
        x = frames[t]
        if x.ndim == 2:
            ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5)
            ax.set_xlim(-4.5, 4.5)
            ax.set_ylim(-4.5, 4.5)
        else:
            ax.imshow(image_grid(x[:16], 4), cmap="gray_r", vmin=-1, vmax=1)
        ax.set_title(f"t = {t}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=90)


def image_grid(images: np.ndarray, ncol: int) -> np.ndarray:
    """(n, 1, h, w) -> one (rows·(h+1), ncol·(w+1)) array with 1-pixel gaps."""
    n, _, h, w = images.shape
    nrow = -(-n // ncol)
    out = np.full((nrow * (h + 1), ncol * (w + 1)), -1.0)
    for k in range(n):
        r, c = divmod(k, ncol)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = images[k, 0]
    return out


def digits_panel(real: np.ndarray, samples: np.ndarray, labels: list[str], path: Path) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.4))
    for ax, imgs, name in zip(axes, (real, samples), ("real digits", "DDPM samples"), strict=True):
        ax.imshow(image_grid(np.clip(imgs[:64], -1, 1), 8), cmap="gray_r", vmin=-1, vmax=1)
        ax.set_title(name)
        ax.axis("off")
    fig.text(
        0.5,
        0.02,
        "classifier labels of the samples (row-major): " + "".join(labels[:64]),
        ha="center",
        fontsize=6,
        wrap=True,
    )
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


def loss_curves(
    curves: dict[str, tuple[list[float], list[float]]], floors: dict[str, float], path: Path
) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, (steps, loss) in curves.items():
        line = ax.plot(steps, loss, label=name)[0]
        if name in floors:
            ax.axhline(floors[name], ls="--", color=line.get_color(), lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("L_simple per dim (EMA-smoothed); dashed: exact ε* floor")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=90)


def loss_figure(
    cfg: DiffusionConfig, trained: StageResult, metrics: dict[str, float], ctx: StageContext
) -> dict[str, str]:
    """The loss curve of each 2-D trainer that kept a history, with its exact-ε* floor where
    the metrics have one; ``{}`` when no trainer kept a history."""
    curves: dict[str, tuple[list[float], list[float]]] = {}
    floors: dict[str, float] = {}
    for name in cfg.toy.datasets:
        path = trained.tables.get(f"loss_{name}")
        if path:
            table = np.genfromtxt(path, delimiter=",", names=True)
            curves[name] = (list(table["step"]), list(table["loss_avg"]))
        if f"{name}.loss_floor_exact" in metrics:
            floors[name] = metrics[f"{name}.loss_floor_exact"]
    if not curves:
        return {}
    return {"loss": loss_curves(curves, floors, ctx.path("loss.png"))}
