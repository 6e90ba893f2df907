"""VAETrainer: a Gaussian VAE (Kingma & Welling 2014) for points, latent size 2 by default.

    from topiclab.nn.vae import VAEConfig, VAETrainer
    tr = VAETrainer(VAEConfig(steps=3000))
    tr.fit(x_train)                          # maximizes the ELBO; x: (n, d) float32
    x = tr.sample(2500, seed=0)              # z ~ N(0, I), x ~ N(decoder(z), σ²_dec)
    lip = tr.lipschitz(2500, seed=0)         # max ‖∂decoder/∂z‖₂: the push-forward map

The decoder's σ is one learned number per dimension; ``sample_noise=False`` returns the decoder
means instead (the "blurry" mean images of image VAEs). Follows topiclab.nn.generative.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from topiclab.nn.gan import MAX_STEPS, TrainingDiverged, history_row, jacobian_norms, mlp
from topiclab.nn.generative import ProgressFn


class VAEConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    steps: int = Field(default=3000, ge=1, le=MAX_STEPS)
    batch: int = Field(default=256, ge=2, le=65_536)
    lr: float = Field(default=2e-3, gt=0, le=1)
    hidden: int = Field(default=128, ge=1, le=8_192)
    layers: int = Field(default=2, ge=1, le=32)
    latent: int = Field(default=2, ge=1, le=4_096)
    beta: float = Field(default=1.0, ge=0, le=1_000, description="weight of the KL term")
    sample_noise: bool = Field(default=True, description="add the decoder's σ to samples")
    log_every: int = Field(default=50, ge=1, le=MAX_STEPS)
    seed: int = Field(default=0, ge=0)


class VAE(nn.Module):
    def __init__(self, dim: int, c: VAEConfig) -> None:
        super().__init__()
        self.latent = c.latent
        self.enc = mlp(dim, 2 * c.latent, c.hidden, c.layers, nn.ReLU)
        self.dec = mlp(c.latent, dim, c.hidden, c.layers, nn.ReLU)
        self.log_sigma = nn.Parameter(torch.full((dim,), math.log(0.5)))

    def neg_elbo(self, x: Tensor, beta: float, generator: torch.Generator) -> Tensor:
        """−ELBO per row, in nats: Gaussian reconstruction NLL + β·KL(q(z|x) ‖ N(0, I))."""
        mu, logvar = self.enc(x).chunk(2, dim=1)
        eps = torch.randn(mu.shape, generator=generator)
        z = mu + (0.5 * logvar).exp() * eps
        r = (x - self.dec(z)) / self.log_sigma.exp()
        nll = (0.5 * r**2 + self.log_sigma + 0.5 * math.log(2 * math.pi)).sum(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        return (nll + beta * kl).mean()


class VAETrainer:
    """Fits a VAE to standardized rows of ``x``; samples in data units."""

    def __init__(self, config: VAEConfig | None = None) -> None:
        self.config = config or VAEConfig()
        self.vae: VAE | None = None
        self.mean = torch.zeros(1)
        self.std = torch.ones(1)
        self.history: list[dict[str, float]] = []

    def fit(self, x: np.ndarray, progress: ProgressFn | None = None) -> None:
        c = self.config
        data = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(len(x), -1)
        self.mean, self.std = data.mean(0), data.std(0).clamp_min(1e-8)
        data = (data - self.mean) / self.std
        torch.manual_seed(c.seed)
        self.vae = VAE(data.shape[1], c)
        opt = torch.optim.Adam(self.vae.parameters(), lr=c.lr)
        g = torch.Generator().manual_seed(c.seed)
        for step in range(c.steps):
            idx = torch.randint(0, len(data), (c.batch,), generator=g)
            loss = self.vae.neg_elbo(data[idx], c.beta, g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"VAE loss not finite at step {step}: {loss.item()}")
            if step % c.log_every == 0 or step == c.steps - 1:
                self.history.append(history_row(self.history, step, loss.item()))
                if progress is not None:
                    progress(step, neg_elbo=loss.item())

    @torch.no_grad()
    def sample(self, n: int, seed: int) -> np.ndarray:
        assert self.vae is not None, "fit or load the trainer before sampling"
        g = torch.Generator().manual_seed(seed)
        x = self.vae.dec(torch.randn(n, self.vae.latent, generator=g))
        if self.config.sample_noise:
            x = x + self.vae.log_sigma.exp() * torch.randn(x.shape, generator=g)
        return (x * self.std + self.mean).numpy()

    def lipschitz(self, n: int, seed: int) -> float:
        """Empirical Lipschitz constant of the decoder mean in data units (max over n z's)."""
        assert self.vae is not None, "fit or load the trainer first"
        z = torch.randn(n, self.vae.latent, generator=torch.Generator().manual_seed(seed))
        return float(jacobian_norms(self.vae.dec, z, self.std).max().detach())

    def module(self) -> nn.Module:
        assert self.vae is not None, "fit or load the trainer first"
        return self.vae

    def save(self, path: str | Path) -> None:
        assert self.vae is not None, "fit the trainer before saving"
        state = {"config": self.config.model_dump(), "vae": self.vae.state_dict()}
        torch.save(state | {"mean": self.mean, "std": self.std, "history": self.history}, path)

    def load(self, path: str | Path) -> None:
        state = torch.load(path, weights_only=False)
        assert state["config"] == self.config.model_dump(), "saved with another config"
        self.mean, self.std, self.history = state["mean"], state["std"], state["history"]
        self.vae = VAE(len(self.mean), self.config)
        self.vae.load_state_dict(state["vae"])
