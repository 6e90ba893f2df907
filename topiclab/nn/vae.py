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

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from topiclab.core.topic import MAX_SEED
from topiclab.nn.fitting import StandardizedTrainer, minibatch_adam
from topiclab.nn.gan import MAX_STEPS, jacobian_norms, mlp
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
    seed: int = Field(default=0, ge=0, le=MAX_SEED)


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


class VAETrainer(StandardizedTrainer):
    """Fits a VAE to standardized rows of ``x``; samples in data units."""

    config: VAEConfig
    net: VAE | None

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__(config or VAEConfig())

    def _new(self, dim: int) -> VAE:
        return VAE(dim, self.config)

    def _fit(self, data: Tensor, progress: ProgressFn | None) -> list[dict[str, float]]:
        vae, c = self.net, self.config
        assert vae is not None

        def loss(idx: Tensor, g: torch.Generator) -> Tensor:
            return vae.neg_elbo(data[idx], c.beta, g)

        return minibatch_adam(vae, len(data), loss, c, "VAE", "neg_elbo", progress)

    @torch.no_grad()
    def sample(self, n: int, seed: int) -> np.ndarray:
        assert self.net is not None, "fit or load the trainer before sampling"
        g = torch.Generator().manual_seed(seed)
        x = self.net.dec(torch.randn(n, self.net.latent, generator=g))
        if self.config.sample_noise:
            x = x + self.net.log_sigma.exp() * torch.randn(x.shape, generator=g)
        return (x * self.std + self.mean).numpy()

    def lipschitz(self, n: int, seed: int) -> float:
        """Empirical Lipschitz constant of the decoder mean in data units (max over n z's)."""
        assert self.net is not None, "fit or load the trainer first"
        z = torch.randn(n, self.net.latent, generator=torch.Generator().manual_seed(seed))
        return float(jacobian_norms(self.net.dec, z, self.std).max().detach())
