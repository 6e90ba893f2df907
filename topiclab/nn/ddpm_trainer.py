"""DDPMTrainer: ε-prediction with L_simple, EMA weights, ancestral and DDIM sampling.

    from topiclab.nn.ddpm_trainer import DDPMConfig, DDPMTrainer
    tr = DDPMTrainer(DDPMConfig(steps=3000))          # MLP denoiser for (n, d) points
    tr.fit(x_train, progress=lambda step, **m: print(step, m))
    x = tr.sample(2500, seed=0)                          # 1000-step ancestral, EMA weights
    x20 = tr.sample_ddim(2500, seed=0, steps=20)
    bound = tr.nll_bound(x_test)                         # −VLB, nats per dimension, per row

Images (n, c, h, w) take ``denoiser="unet"`` (8×8). Follows topiclab.nn.generative's interface.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Literal, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from topiclab.core.topic import MAX_SEED
from topiclab.nn import diffusion as D
from topiclab.nn.denoisers import MLPDenoiser, UNet8
from topiclab.nn.generative import ProgressFn


class DDPMConfig(BaseModel):
    """Everything that defines a DDPM run; the defaults are Ho et al.'s schedule, a small net."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # lr=inf trains to NaN

    denoiser: Literal["mlp", "unet"] = "mlp"
    T: int = Field(default=1000, ge=2, le=100_000)
    schedule: Literal["linear", "cosine"] = "linear"
    beta_start: float = Field(default=1e-4, gt=0, lt=1)
    beta_end: float = Field(default=0.02, gt=0, lt=1)
    variance: Literal["fixed_small", "fixed_large"] = "fixed_small"
    steps: int = Field(default=4000, ge=1, le=100_000_000, description="optimizer steps")
    batch: int = Field(default=256, ge=1, le=1_000_000)
    lr: float = Field(default=1e-3, gt=0, le=10)
    lr_min_frac: float = Field(
        default=0.05, ge=0, le=1, description="cosine decay of the lr to this fraction"
    )
    ema: float = Field(
        default=0.995, ge=0, lt=1, description="EMA decay (Ho et al.: 0.9999 over 800k steps)"
    )
    hidden: int = Field(default=128, ge=1, le=65_536)
    layers: int = Field(default=3, ge=1, le=64)
    # GroupNorm(8, ·) in every U-Net block: channels must split into 8 groups.
    width: int = Field(default=32, ge=8, le=4096, multiple_of=8, description="U-Net channels")
    log_every: int = Field(default=50, ge=1)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)


class DDPMTrainer:
    """Trains an ε-network on rows of ``x`` and samples with its EMA copy."""

    def __init__(self, config: DDPMConfig | None = None) -> None:
        self.config = config or DDPMConfig()
        c = self.config
        self.schedule = D.make_schedule(
            c.schedule, c.T, beta_start=c.beta_start, beta_end=c.beta_end
        )
        self.net: nn.Module | None = None
        self.ema: nn.Module | None = None
        self.shape: tuple[int, ...] = ()
        self.history: list[dict[str, float]] = []

    # --- building and training ---------------------------------------------------------

    def _build(self, shape: tuple[int, ...]) -> None:
        c = self.config
        torch.manual_seed(c.seed)
        if c.denoiser == "mlp":
            assert len(shape) == 1, f"the MLP denoiser takes (n, d) rows, got rows of {shape}"
            self.net = MLPDenoiser(shape[0], hidden=c.hidden, layers=c.layers)
        else:
            assert len(shape) == 3, f"the U-Net takes (n, c, h, w) images, got rows of {shape}"
            self.net = UNet8(shape[0], width=c.width)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.shape = shape

    def fit(self, x: np.ndarray, progress: ProgressFn | None = None) -> None:
        c = self.config
        data = torch.as_tensor(np.asarray(x, dtype=np.float32))
        self._build(tuple(data.shape[1:]))
        assert self.net is not None and self.ema is not None
        opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt,
            lambda s: (
                c.lr_min_frac + (1 - c.lr_min_frac) * 0.5 * (1 + math.cos(math.pi * s / c.steps))
            ),
        )
        g = torch.Generator().manual_seed(c.seed)
        running = 0.0
        for step in range(c.steps):
            idx = torch.randint(0, len(data), (c.batch,), generator=g)
            loss = D.l_simple(self.schedule, self.net, data[idx], generator=g) / data[0].numel()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            # EMA with warm-up: early weights are poor, so they are forgotten faster.
            decay = min(c.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, p in zip(self.ema.parameters(), self.net.parameters(), strict=True):
                    pe.lerp_(p, 1 - decay)
            running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
            if step % c.log_every == 0 or step == c.steps - 1:
                self.history.append({"step": step, "loss": loss.item(), "loss_avg": running})
                if progress is not None:
                    progress(step, loss=loss.item(), loss_avg=running)

    # --- sampling ---------------------------------------------------------------------

    def _eps(self) -> D.EpsFn:
        assert self.ema is not None, "fit or load the trainer before sampling"
        return self.ema.eval()

    def sample(self, n: int, seed: int, variance: str | None = None) -> np.ndarray:
        """``n`` samples by T-step ancestral sampling (σ_t² = β̃_t or β_t)."""
        v = variance or self.config.variance
        assert v in ("fixed_small", "fixed_large"), f"unknown variance {v!r}"
        v = cast(D.Variance, v)
        g = torch.Generator().manual_seed(seed)
        x, _ = D.ancestral_sample(
            self.schedule, self._eps(), (n, *self.shape), generator=g, variance=v
        )
        return x.numpy()

    def sample_ddim(self, n: int, seed: int, steps: int = 50) -> np.ndarray:
        """``n`` samples by deterministic DDIM over ``steps`` of the T timesteps."""
        g = torch.Generator().manual_seed(seed)
        return D.ddim_sample(
            self.schedule, self._eps(), (n, *self.shape), steps, generator=g
        ).numpy()

    def trajectory(self, n: int, seed: int, times: tuple[int, ...]) -> dict[int, np.ndarray]:
        """x_t at the paper times in ``times`` (T = noise, 0 = samples) of one ancestral run."""
        g = torch.Generator().manual_seed(seed)
        _, kept = D.ancestral_sample(
            self.schedule,
            self._eps(),
            (n, *self.shape),
            generator=g,
            variance=self.config.variance,
            keep=times,
        )
        return {t: v.numpy() for t, v in kept.items()}

    @torch.no_grad()
    def nll_bound(self, x: np.ndarray, seed: int = 0) -> np.ndarray:
        """−VLB of each row in nats per dimension (an upper bound on −log p_θ(x)/d)."""
        g = torch.Generator().manual_seed(seed)
        x0 = torch.as_tensor(np.asarray(x, dtype=np.float32))
        return D.nll_bound_per_dim(
            self.schedule,
            self._eps(),
            x0,
            self.config.variance,
            generator=g,
        ).numpy()

    @torch.no_grad()
    def loss_on(self, x: np.ndarray, seed: int = 0, eps_fn: D.EpsFn | None = None) -> float:
        """L_simple per dimension on ``x`` (of the EMA net, or of ``eps_fn``), fixed draws."""
        g = torch.Generator().manual_seed(seed)
        x0 = torch.as_tensor(np.asarray(x, dtype=np.float32))
        fn: D.EpsFn = eps_fn or self._eps()
        return float(D.l_simple(self.schedule, fn, x0, generator=g)) / x0[0].numel()

    # --- persistence ------------------------------------------------------------------

    def module(self) -> nn.Module:
        assert self.ema is not None, "fit or load the trainer first"
        return self.ema

    def save(self, path: str | Path) -> None:
        assert self.net is not None and self.ema is not None, "fit the trainer before saving"
        torch.save(
            {
                "config": self.config.model_dump(),
                "shape": self.shape,
                "net": self.net.state_dict(),
                "ema": self.ema.state_dict(),
                "history": self.history,
            },
            path,
        )

    def load(self, path: str | Path) -> None:
        state = torch.load(path, weights_only=False)
        assert state["config"] == self.config.model_dump(), "saved with another config"
        self._build(tuple(state["shape"]))
        assert self.net is not None and self.ema is not None
        self.net.load_state_dict(state["net"])
        self.ema.load_state_dict(state["ema"])
        self.history = state["history"]
