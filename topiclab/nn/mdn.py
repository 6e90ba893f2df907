"""Mixture-density networks (Bishop 1994): p(y | x) = Σ_k π_k(x) N(y; μ_k(x), diag σ_k(x)²).

    from topiclab.nn.mdn import MDNConfig, MDNTrainer, fit_conditional
    tr = MDNTrainer(MDNConfig(components=30))      # unconditional: a mixture fitted by SGD
    tr.fit(x_train); x = tr.sample(2500, seed=0)   # maximum likelihood: mass-covering
    mdn = fit_conditional(x, y, MDNConfig(components=2))   # p(y | x), e.g. the ±x target
    pi, mu, sigma = mdn.params(torch.tensor([[0.5]]))      # (1, K), (1, K, d), (1, K, d)

The unconditional trainer follows topiclab.nn.generative's interface; it is the
likelihood-based control of the mode-collapse topic (forward KL, which covers every mode).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from topiclab.core.topic import MAX_SEED
from topiclab.nn.fitting import StandardizedTrainer, minibatch_adam
from topiclab.nn.gan import MAX_STEPS, mlp
from topiclab.nn.generative import ProgressFn


class MDNConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    components: int = Field(default=30, ge=1, le=10_000, description="mixture components K")
    steps: int = Field(default=2000, ge=1, le=MAX_STEPS)
    batch: int = Field(default=256, ge=2, le=65_536)
    lr: float = Field(default=1e-2, gt=0, le=1)
    hidden: int = Field(default=64, ge=1, le=8_192, description="conditional trunk only")
    layers: int = Field(default=2, ge=1, le=32, description="conditional trunk only")
    log_every: int = Field(default=50, ge=1, le=MAX_STEPS)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)


class MDN(nn.Module):
    """Maps x (n, d_in) to the K mixture parameters over y (n, d); d_in = 0: unconditional."""

    def __init__(self, d_in: int, d: int, c: MDNConfig) -> None:
        super().__init__()
        self.k, self.d, self.d_in = c.components, d, d_in
        out = self.k * (1 + 2 * d)
        # Unconditional: the parameters are the output layer's bias (input is a constant 0).
        self.net = mlp(d_in, out, c.hidden, c.layers, nn.Tanh) if d_in else nn.Linear(1, out)

    def params(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mixture weights π (n, K), means μ (n, K, d) and standard deviations σ (n, K, d)."""
        h = self.net(x if self.d_in else torch.zeros(len(x), 1))
        logits, mu, log_sigma = h.split([self.k, self.k * self.d, self.k * self.d], dim=1)
        shape = (len(x), self.k, self.d)
        sigma = log_sigma.reshape(shape).clamp(-12, 5).exp()
        return logits.softmax(1), mu.reshape(shape), sigma

    def log_prob(self, x: Tensor, y: Tensor) -> Tensor:
        """log p(y | x) per row, by log-sum-exp over the components."""
        pi, mu, sigma = self.params(x)
        z = (y[:, None] - mu) / sigma
        comp = (-0.5 * z**2 - sigma.log() - 0.5 * math.log(2 * math.pi)).sum(2)
        return torch.logsumexp(comp + pi.clamp_min(1e-30).log(), dim=1)

    @torch.no_grad()
    def sample(self, x: Tensor, generator: torch.Generator) -> Tensor:
        pi, mu, sigma = self.params(x)
        k = torch.multinomial(pi, 1, generator=generator)[:, 0]
        rows = torch.arange(len(x))
        return mu[rows, k] + sigma[rows, k] * torch.randn(mu[rows, k].shape, generator=generator)


def fit_conditional(x: np.ndarray, y: np.ndarray, c: MDNConfig) -> MDN:
    """An MDN for p(y | x), rows of x (n, d_in) and y (n, d)."""
    xt = torch.as_tensor(np.asarray(x, np.float32)).reshape(len(x), -1)
    yt = torch.as_tensor(np.asarray(y, np.float32)).reshape(len(y), -1)
    torch.manual_seed(c.seed)
    mdn = MDN(xt.shape[1], yt.shape[1], c)
    _spread_init(mdn, yt)
    minibatch_adam(
        mdn, len(yt), lambda idx, _: -mdn.log_prob(xt[idx], yt[idx]).mean(), c, "MDN", "nll"
    )
    return mdn


@torch.no_grad()
def _spread_init(mdn: MDN, y: Tensor) -> None:
    """Start component k's mean at the (k + ½)/K quantile of y: components that all start at
    the same place receive the same gradient and, by symmetry, tend to stay together."""
    last = mdn.net[-1] if isinstance(mdn.net, nn.Sequential) else mdn.net
    assert isinstance(last, nn.Linear)
    k, d = mdn.k, mdn.d
    q = torch.quantile(y, (torch.arange(k) + 0.5) / k, dim=0)  # (K, d)
    last.bias[k : k + k * d] = q.reshape(-1)
    last.bias[k + k * d :] = torch.log(y.std(0).clamp_min(1e-6) / k).repeat(k)


class MDNTrainer(StandardizedTrainer):
    """The unconditional MDN as a generative trainer: means start at K random data points."""

    config: MDNConfig
    net: MDN | None

    def __init__(self, config: MDNConfig | None = None) -> None:
        super().__init__(config or MDNConfig())

    def _new(self, dim: int) -> MDN:
        return MDN(0, dim, self.config)

    def _fit(self, data: Tensor, progress: ProgressFn | None) -> list[dict[str, float]]:
        mdn = self.net
        assert mdn is not None
        self._init_from(data)
        none = torch.zeros(len(data), 0)

        def loss(idx: Tensor, _: torch.Generator) -> Tensor:
            return -mdn.log_prob(none[idx], data[idx]).mean()

        return minibatch_adam(mdn, len(data), loss, self.config, "MDN", "nll", progress)

    @torch.no_grad()
    def _init_from(self, data: Tensor) -> None:
        """Means at K random points (as k-means' Forgy init), σ = 0.1 (standardized), π flat."""
        assert isinstance(self.net, MDN)
        k, d = self.net.k, self.net.d
        g = torch.Generator().manual_seed(self.config.seed)
        pick = data[torch.randint(0, len(data), (k,), generator=g)]
        net = self.net.net
        assert isinstance(net, nn.Linear)
        net.weight.zero_()
        bias = net.bias
        bias.zero_()
        bias[k : k + k * d] = pick.reshape(-1)
        bias[k + k * d :] = math.log(0.1)

    def sample(self, n: int, seed: int) -> np.ndarray:
        assert self.net is not None, "fit or load the trainer before sampling"
        g = torch.Generator().manual_seed(seed)
        return (self.net.sample(torch.zeros(n, 0), g) * self.std + self.mean).numpy()
