"""The interface every generative trainer follows (task ``"generative"``): DDPM, GAN, VAE, GMM.

    spec = ctx.registry.trainer("ddpm", task=GENERATIVE_TASK)
    trainer: GenerativeTrainer = spec.create(options)        # validated by spec.config
    trainer.fit(x_train, progress=lambda step, **m: ...)   # x: (n, d) points or (n, c, h, w)
    x = trainer.sample(2500, seed=0)                        # same trailing shape as x_train
    trainer.save(path); trainer.load(path); torch.save(trainer.module(), model_path)

Extras a topic may use when present (check with ``hasattr``): ``nll_bound(x)`` (nats/dim per
row), ``sample_ddim(n, seed, steps)``, ``trajectory(n, seed, times)``, ``history`` (losses).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

GENERATIVE_TASK = "generative"


class ProgressFn(Protocol):
    def __call__(self, step: int, **metrics: float) -> None: ...


@runtime_checkable
class GenerativeTrainer(Protocol):
    """Fits a distribution to rows of ``x`` and samples from it, reproducibly by ``seed``.

    Optional methods a topic uses when they exist (``hasattr``): ``save(path)`` and
    ``load(path)`` (reopen a fitted trainer in a later stage), ``module()`` (the
    ``torch.nn.Module`` to log as the model; the EMA weights for DDPM), and DDPM's extras
    ``nll_bound``, ``sample_ddim``, ``trajectory``, ``loss_on``.
    """

    def fit(self, x: np.ndarray, progress: ProgressFn | None = None) -> None:
        """Train on ``x`` (float32); call ``progress(step, loss=...)`` now and then."""

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` samples shaped like the training rows; equal seeds give equal samples."""
        ...
