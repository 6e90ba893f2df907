"""Figures of the gato report (matplotlib, Agg): a Gato-style chart of the tasks against the
50 % and 80 % of expert lines (generalist and specialists), the training losses of the
generalist and the text specialist, and
a strip of frames of one roll-out per control task.

    figs = topic_figures(ctx, rows, histories, frames)   # in evaluate: name -> PNG path
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from topiclab.core.figures import save_figure
from topiclab.core.topic import StageContext
from topiclab.plugins.gato.tasks import FROZENLAKE_MAP, FROZENLAKE_T_MAP


def topic_figures(
    ctx: StageContext,
    rows: list[dict[str, Any]],
    histories: dict[str, list[dict[str, str]]],
    frames: dict[str, list[Any]],
) -> dict[str, str]:
    """Every figure of the report, name -> PNG path."""
    figs = {"expert_share": expert_chart(ctx, rows), "loss": loss_curves(ctx, histories)}
    for name, obs in frames.items():
        if name in DRAW:
            figs[f"episode_{name}"] = episode_strip(ctx, name, obs)
    return figs


def expert_chart(ctx: StageContext, rows: list[dict[str, Any]]) -> str:
    """Normalised score per task with its 95 % interval: the generalist with and without a
    prompt, and the task's specialist."""
    runs = ("prompt", "no_prompt", "specialist")
    labels = [x for x in runs if all(f"score_{x}" in r for r in rows)]
    fig, ax = plt.subplots(figsize=(6.5, 0.6 + 0.3 * len(labels) * max(1, len(rows))))
    h = 0.8 / len(labels)
    for k, label in enumerate(labels):
        y = [i + (k - (len(labels) - 1) / 2) * h for i in range(len(rows))]
        s = [r[f"score_{label}"] for r in rows]
        err = [
            [v - r[f"ci_low_{label}"] for v, r in zip(s, rows, strict=True)],
            [r[f"ci_high_{label}"] - v for v, r in zip(s, rows, strict=True)],
        ]
        ax.barh(y, s, height=h * 0.95, xerr=err, color=f"C{k}", label=label.replace("_", " "))
    for x, style in ((50, "--"), (80, ":")):
        ax.axvline(x, color="gray", ls=style, lw=1)
    ax.set_yticks(range(len(rows)), [r["task"] for r in rows])
    ax.set(
        xlabel="% of expert (100·(score − random)/(expert − random))",
        title="One set of weights on every task (lines: 50 %, 80 %)",
    )
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, ctx.path("expert_share.png"))


def loss_curves(ctx: StageContext, histories: dict[str, list[dict[str, str]]]) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, hist in histories.items():
        ax.plot(
            [float(h["step"]) for h in hist], [float(h["loss"]) for h in hist], lw=0.8, label=name
        )
    ax.set(xlabel="step", ylabel="masked loss (nats/token)", title="Training loss", yscale="log")
    ax.legend()
    return save_figure(fig, ctx.path("loss.png"))


def episode_strip(ctx: StageContext, name: str, observations: list[Any], n: int = 8) -> str:
    """``n`` frames of one roll-out, drawn from the observations (gymnasium's own renderer
    needs pygame, which the topic does without)."""
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n, 1.9))
    picks = np.linspace(0, max(0, len(observations) - 1), n).astype(int)
    for ax, t in zip(axes, picks, strict=True):
        DRAW[name](ax, np.asarray(observations[t]) if observations else None)
        ax.set_title(f"t={t}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{name}: one roll-out of the generalist ({len(observations)} steps)", fontsize=9)
    return save_figure(fig, ctx.path(f"episode_{name}.png"), dpi=90)


def _cartpole(ax: Any, o: np.ndarray | None) -> None:
    ax.set(xlim=(-2.4, 2.4), ylim=(-0.3, 1.3))
    ax.axhline(0, color="k", lw=0.5)
    if o is not None:
        x, th = float(o[0]), float(o[2])
        ax.add_patch(plt.Rectangle((x - 0.25, -0.08), 0.5, 0.16, color="C0"))
        ax.plot([x, x + np.sin(th)], [0, np.cos(th)], color="C1", lw=3)


def _mountaincar(ax: Any, o: np.ndarray | None, goal: float = 0.5) -> None:
    xs = np.linspace(-1.2, 0.6, 100)
    ax.plot(xs, np.sin(3 * xs), color="k", lw=1)
    ax.axvline(goal, color="g", lw=1)
    if o is not None:
        ax.plot([o[0]], [np.sin(3 * o[0])], "o", color="C0", ms=8)


def _pendulum(ax: Any, o: np.ndarray | None) -> None:
    ax.set(xlim=(-1.2, 1.2), ylim=(-1.2, 1.2), aspect="equal")
    if o is not None:  # (cos θ, sin θ, θ'), θ = 0 up, increasing counter-clockwise
        ax.plot([0, -o[1]], [0, o[0]], color="C1", lw=4)
        ax.plot([0], [0], "ko", ms=3)


def _frozenlake(ax: Any, o: np.ndarray | None, lake: tuple[str, ...] = FROZENLAKE_MAP) -> None:
    colours = {"S": 0.9, "F": 0.9, "H": 0.2, "G": 0.6}
    ax.imshow([[colours[c] for c in row] for row in lake], cmap="Blues_r", vmin=0, vmax=1)
    if o is not None:
        ax.plot([int(o) % 4], [int(o) // 4], "o", color="C3", ms=10)


DRAW: dict[str, Callable[..., None]] = {
    "CartPole-v1": _cartpole,
    "MountainCar-v0": _mountaincar,
    "Pendulum-v1": _pendulum,
    "MountainCarContinuous-v0": functools.partial(_mountaincar, goal=0.45),
    "FrozenLake-v1": _frozenlake,
    "FrozenLakeT-v1": functools.partial(_frozenlake, lake=FROZENLAKE_T_MAP),
}
