"""What the likelihood-trained point models (VAE, MDN) share: standardized rows, Adam on random
minibatches with a divergence check and a loss history, and saving one module.

    from topiclab.nn.fitting import StandardizedTrainer, minibatch_adam
    history = minibatch_adam(net, n_rows, lambda idx, g: loss_of(rows[idx], g), cfg, "VAE", "nll")

    class MyTrainer(StandardizedTrainer):       # VAETrainer, MDNTrainer
        def _new(self, dim: int) -> nn.Module: ...        # the untrained module for d columns
        def _fit(self, data: Tensor, progress) -> list[dict]: ...   # data is standardized

``cfg`` is any object with ``steps``, ``batch``, ``lr``, ``log_every`` and ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from topiclab.nn.generative import ProgressFn


class TrainingDiverged(FloatingPointError):
    """A training loss became NaN or infinite; the message names the step and the loss."""


class LoopConfig(Protocol):
    steps: int
    batch: int
    lr: float
    log_every: int
    seed: int


def history_row(history: list[dict[str, float]], step: int, loss: float, **extra: float) -> dict:
    """A logged row: the step, the objective as ``loss``, ``loss_avg`` (an EMA over logged rows;
    the diffusion topic's loss table reads it) and any other losses."""
    avg = loss if not history else 0.8 * history[-1]["loss_avg"] + 0.2 * loss
    return {"step": step, "loss": loss, "loss_avg": avg, **extra}


def minibatch_adam(
    module: nn.Module,
    n: int,
    batch_loss: Callable[[Tensor, torch.Generator], Tensor],
    c: LoopConfig,
    label: str,
    metric: str,
    progress: ProgressFn | None = None,
) -> list[dict[str, float]]:
    """Adam on ``batch_loss(rows, generator)`` for ``c.steps`` minibatches of ``c.batch`` random
    row indices out of ``n``; the one generator (seeded by ``c.seed``) draws the rows and any
    noise the loss needs. A non-finite loss raises ``TrainingDiverged`` naming ``label``.
    Returns the loss history; ``progress`` gets the loss as ``metric``."""
    opt = torch.optim.Adam(module.parameters(), lr=c.lr)
    g = torch.Generator().manual_seed(c.seed)
    history: list[dict[str, float]] = []
    for step in range(c.steps):
        loss = batch_loss(torch.randint(0, n, (c.batch,), generator=g), g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"{label} loss not finite at step {step}: {loss.item()}")
        if step % c.log_every == 0 or step == c.steps - 1:
            history.append(history_row(history, step, loss.item()))
            if progress is not None:
                progress(step, **{metric: loss.item()})
    return history


class StandardizedTrainer:
    """A generative trainer of one module fitted to standardized rows; samples in data units.
    Subclasses give ``_new(dim)`` (the module) and ``_fit(data, progress)`` (the history)."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.net: nn.Module | None = None
        self.mean = torch.zeros(1)
        self.std = torch.ones(1)
        self.history: list[dict[str, float]] = []

    def _new(self, dim: int) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must define _new(dim)")

    def _fit(self, data: Tensor, progress: ProgressFn | None) -> list[dict[str, float]]:
        raise NotImplementedError(f"{type(self).__name__} must define _fit(data, progress)")

    def fit(self, x: np.ndarray, progress: ProgressFn | None = None) -> None:
        data = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(len(x), -1)
        self.mean, self.std = data.mean(0), data.std(0).clamp_min(1e-8)
        torch.manual_seed(self.config.seed)
        self.net = self._new(data.shape[1])
        self.history = self._fit((data - self.mean) / self.std, progress)

    def module(self) -> nn.Module:
        assert self.net is not None, "fit or load the trainer first"
        return self.net

    def save(self, path: str | Path) -> None:
        assert self.net is not None, "fit the trainer before saving"
        state = {"config": self.config.model_dump(), "net": self.net.state_dict()}
        torch.save(state | {"mean": self.mean, "std": self.std, "history": self.history}, path)

    def load(self, path: str | Path) -> None:
        state = torch.load(path, weights_only=False)
        assert state["config"] == self.config.model_dump(), "saved with another config"
        self.mean, self.std, self.history = state["mean"], state["std"], state["history"]
        self.net = self._new(len(self.mean))
        self.net.load_state_dict(state["net"])
