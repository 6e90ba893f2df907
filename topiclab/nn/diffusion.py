"""DDPM numerics in one file: schedules, forward process, posterior, losses, bound, samplers.

    from topiclab.nn.diffusion import make_schedule, q_sample, ancestral_sample, mixture_eps
    s = make_schedule("linear", T=1000)            # Ho et al. 2020: beta 1e-4 .. 0.02
    eps_fn = mixture_eps(s, means, std=0.02)         # exact eps* of a Gaussian mixture
    x0 = ancestral_sample(s, eps_fn, (2500, 2), generator=torch.Generator().manual_seed(0))

Indexing follows diffusers: timestep index ``t`` in ``0..T-1`` is the paper's ``t + 1``, so
``alphas_cumprod[t]`` is the paper's ᾱ_{t+1}. An ``eps_fn(x_t, t)`` takes a batch ``x_t`` and a
long tensor ``t`` of shape ``(n,)`` and predicts the noise ε. Schedules are kept in float64 and
cast to the data's dtype where used. Against diffusers' ``DDPMScheduler`` with its constants
in float64, one step agrees to ~1e-10 (the formulas are the same); against stock diffusers
in float32 a step differs by up to about 2e-4, and diffusers is the less exact side: it
multiplies ᾱ in float32, and 1 − ᾱ near t = 1 loses about three digits there.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch
from torch import Tensor

EpsFn = Callable[[Tensor, Tensor], Tensor]
Variance = Literal["fixed_small", "fixed_large"]
LOG_2PI = math.log(2 * math.pi)


class ScheduleWarning(UserWarning):
    """A noise schedule whose last step still carries signal (x_T is not close to N(0, I))."""


# --- schedules -----------------------------------------------------------------------------


def linear_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """DDPM's schedule: β linear in t (Ho et al. 2020 use T=1000, 1e-4 .. 0.02)."""
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Nichol & Dhariwal 2021: ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2), β clipped at 0.999."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


@dataclass(frozen=True)
class Schedule:
    """Every per-step constant the forward process, the posterior and the samplers need."""

    betas: Tensor

    @property
    def T(self) -> int:
        return len(self.betas)

    @cached_property
    def alphas(self) -> Tensor:
        return 1 - self.betas

    @cached_property
    def alphas_cumprod(self) -> Tensor:
        return torch.cumprod(self.alphas, 0)

    @cached_property
    def alphas_cumprod_prev(self) -> Tensor:  # ᾱ_{t-1}, with ᾱ_0 = 1
        return torch.cat([torch.ones(1, dtype=self.betas.dtype), self.alphas_cumprod[:-1]])

    @cached_property
    def posterior_variance(self) -> Tensor:  # β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t
        return (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod) * self.betas

    def variance(self, kind: Variance) -> Tensor:
        """σ_t² of the reverse step: β̃_t ("fixed_small") or β_t ("fixed_large")."""
        return self.posterior_variance if kind == "fixed_small" else self.betas


def check_schedule(s: Schedule, max_sqrt_alpha_bar: float = 0.01, name: str = "") -> dict:
    """Warn (``ScheduleWarning``) if √ᾱ_T ≥ ``max_sqrt_alpha_bar``: x_T would keep signal.

    The classic pitfall: T=100 with DDPM's endpoints (1e-4 .. 0.02) leaves ᾱ_T ≈ 0.364, so
    sampling from N(0, I) starts from a distribution the model never saw at step T.
    """
    abar_T = float(s.alphas_cumprod[-1])
    ok = math.sqrt(abar_T) < max_sqrt_alpha_bar
    if not ok:
        warnings.warn(
            f"noise schedule {name or ''}(T={s.T}) ends at alpha_bar_T={abar_T:.3g} "
            f"(sqrt={math.sqrt(abar_T):.3g} >= {max_sqrt_alpha_bar}): x_T still carries signal; "
            "raise T or beta_end, or use the cosine schedule",
            ScheduleWarning,
            stacklevel=2,
        )
    return {"T": s.T, "alpha_bar_T": abar_T, "sqrt_alpha_bar_T": math.sqrt(abar_T), "ok": ok}


def make_schedule(
    kind: Literal["linear", "cosine"] = "linear",
    T: int = 1000,
    *,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    check: bool = True,
) -> Schedule:
    """A schedule by name; checked (and warned about) unless ``check=False``."""
    assert kind in ("linear", "cosine"), f"unknown schedule {kind!r}: use 'linear' or 'cosine'"
    betas = linear_betas(T, beta_start, beta_end) if kind == "linear" else cosine_betas(T)
    s = Schedule(betas)
    if check:
        check_schedule(s, name=f"{kind} ")
    return s


def _at(values: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """values[t] shaped to broadcast against a batch ``x`` (n, ...), in ``x``'s dtype."""
    out = values.to(x.device)[t].to(x.dtype)
    return out.reshape(-1, *([1] * (x.dim() - 1)))


# --- forward process and posterior ---------------------------------------------------------


def q_sample(s: Schedule, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
    """x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε: the closed form of q(x_t | x_0)."""
    abar = _at(s.alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def q_posterior(s: Schedule, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Mean μ̃_t and variance β̃_t of q(x_{t−1} | x_t, x_0)."""
    abar, abar_prev = _at(s.alphas_cumprod, t, xt), _at(s.alphas_cumprod_prev, t, xt)
    beta, alpha = _at(s.betas, t, xt), _at(s.alphas, t, xt)
    mean = (abar_prev.sqrt() * beta / (1 - abar)) * x0 + (
        alpha.sqrt() * (1 - abar_prev) / (1 - abar)
    ) * xt
    return mean, _at(s.posterior_variance, t, xt).expand_as(xt)


def predict_x0(s: Schedule, xt: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """x̂_0 = (x_t − √(1 − ᾱ_t)·ε) / √ᾱ_t."""
    abar = _at(s.alphas_cumprod, t, xt)
    return (xt - (1 - abar).sqrt() * eps) / abar.sqrt()


def p_mean(s: Schedule, xt: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """μ_θ(x_t, t) = (x_t − β_t/√(1 − ᾱ_t)·ε_θ) / √α_t (equal to μ̃_t at x̂_0)."""
    beta, alpha, abar = _at(s.betas, t, xt), _at(s.alphas, t, xt), _at(s.alphas_cumprod, t, xt)
    return (xt - beta / (1 - abar).sqrt() * eps) / alpha.sqrt()


def gaussian_kl(mean1: Tensor, var1: Tensor, mean2: Tensor, var2: Tensor) -> Tensor:
    """KL(N(mean1, var1) ‖ N(mean2, var2)) per dimension, in nats."""
    return 0.5 * (torch.log(var2 / var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1)


# --- losses and the variational bound ------------------------------------------------------


def l_simple(
    s: Schedule, eps_fn: EpsFn, x0: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """E_{t, ε}‖ε − ε_θ(x_t, t)‖² per sample (summed over dimensions), t uniform."""
    t = torch.randint(0, s.T, (len(x0),), generator=generator, device=x0.device)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    err = (noise - eps_fn(q_sample(s, x0, t, noise), t)) ** 2
    return err.flatten(1).sum(1).mean()


def vlb_terms(
    s: Schedule,
    eps_fn: EpsFn,
    x0: Tensor,
    variance: Variance = "fixed_small",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Every term of −VLB for each sample, in nats per sample: shape (n, T + 1).

    Column 0 is L_0 = −log N(x_0; μ_θ(x_1, 1), σ_1²) (continuous data, Gaussian decoder),
    columns 1..T−1 are L_{t−1} = KL(q(x_{t−1}|x_t, x_0) ‖ p_θ(x_{t−1}|x_t)), and column T is
    the prior term L_T = KL(q(x_T|x_0) ‖ N(0, I)). One x_t per (sample, t), so the sum is an
    unbiased estimate of the bound.
    """
    n, terms = len(x0), []
    var = s.variance(variance).clone()
    # β̃_1 = 0, so the decoder's variance at the first step takes β̃_2 (as in Ho et al.'s code).
    var[0] = s.posterior_variance[1]
    dims = tuple(range(1, x0.dim()))
    for t_idx in range(s.T):
        t = torch.full((n,), t_idx, dtype=torch.long, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        xt = q_sample(s, x0, t, noise)
        mean_theta = p_mean(s, xt, t, eps_fn(xt, t))
        sigma2 = _at(var, t, xt)
        if t_idx == 0:
            nll = 0.5 * (LOG_2PI + torch.log(sigma2) + (x0 - mean_theta) ** 2 / sigma2)
            terms.append(nll.sum(dims))
        else:
            mean_q, var_q = q_posterior(s, x0, xt, t)
            terms.append(gaussian_kl(mean_q, var_q, mean_theta, sigma2.expand_as(xt)).sum(dims))
    abar_T = _at(s.alphas_cumprod, torch.full((n,), s.T - 1, device=x0.device), x0)
    prior = gaussian_kl(
        abar_T.sqrt() * x0, (1 - abar_T).expand_as(x0), torch.zeros_like(x0), torch.ones_like(x0)
    )
    terms.append(prior.sum(dims))
    return torch.stack(terms, 1)


def nll_bound_per_dim(
    s: Schedule,
    eps_fn: EpsFn,
    x0: Tensor,
    variance: Variance = "fixed_small",
    generator: torch.Generator | None = None,
) -> Tensor:
    """−VLB in nats per dimension for each sample (≥ −log p_θ(x_0)/d)."""
    d = x0[0].numel()
    return vlb_terms(s, eps_fn, x0, variance, generator).sum(1) / d


# --- samplers ------------------------------------------------------------------------------


def p_sample_step(
    s: Schedule, eps: Tensor, xt: Tensor, t: int, noise: Tensor, variance: Variance = "fixed_small"
) -> Tensor:
    """One ancestral step x_t -> x_{t−1} = μ_θ + σ_t·z (no noise at the last step, t = 0)."""
    # Scalar coefficients: the same formula as p_mean, without a per-sample gather.
    beta, abar = float(s.betas[t]), float(s.alphas_cumprod[t])
    mean = (xt - beta / math.sqrt(1 - abar) * eps) / math.sqrt(1 - beta)
    if t == 0:
        return mean
    return mean + math.sqrt(float(s.variance(variance)[t])) * noise


@torch.no_grad()
def ancestral_sample(
    s: Schedule,
    eps_fn: EpsFn,
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    variance: Variance = "fixed_small",
    keep: tuple[int, ...] = (),
) -> tuple[Tensor, dict[int, Tensor]]:
    """DDPM's sampler from x_T ~ N(0, I) over all T steps; returns x_0 and x_t for t in keep.

    ``keep`` holds paper times (T = pure noise, 0 = the sample).
    """
    x = torch.randn(shape, generator=generator, dtype=torch.float32)
    kept = {s.T: x.clone()} if s.T in keep else {}
    for t in reversed(range(s.T)):
        tt = torch.full((shape[0],), t, dtype=torch.long)
        noise = torch.randn(shape, generator=generator, dtype=x.dtype) if t > 0 else x
        x = p_sample_step(s, eps_fn(x, tt), x, t, noise, variance)
        if t in keep:
            kept[t] = x.clone()
    return x, kept


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """Evenly spaced 0-based timesteps, last one T − 1, descending (``steps`` of them)."""
    assert 1 <= steps <= T, f"DDIM needs 1 <= steps <= T, got steps={steps}, T={T}"
    return sorted({round(i * (T - 1) / max(steps - 1, 1)) for i in range(steps)}, reverse=True)


@torch.no_grad()
def ddim_sample(
    s: Schedule,
    eps_fn: EpsFn,
    shape: tuple[int, ...],
    steps: int,
    *,
    generator: torch.Generator | None = None,
    eta: float = 0.0,
) -> Tensor:
    """DDIM (Song et al. 2021) on a sub-sequence of steps; η = 0 is deterministic.

    x_{t'} = √ᾱ_{t'}·x̂_0 + √(1 − ᾱ_{t'} − σ²)·ε_θ + σ·z, x̂_0 from ε_θ(x_t, t).
    """
    abar = s.alphas_cumprod
    x = torch.randn(shape, generator=generator, dtype=torch.float32)
    ts = ddim_timesteps(s.T, steps)
    for i, t in enumerate(ts):
        tt = torch.full((shape[0],), t, dtype=torch.long)
        eps = eps_fn(x, tt)
        x0 = predict_x0(s, x, tt, eps)
        a_t = float(abar[t])
        a_prev = float(abar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
        x = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * torch.randn(shape, generator=generator, dtype=x.dtype)
    return x


# --- exact ε* for data whose density is known ----------------------------------------------


def gaussian_eps(s: Schedule, mean: float | Tensor, std: float | Tensor) -> EpsFn:
    """ε*(x_t, t) for x_0 ~ N(mean, std² I): √(1−ᾱ)(x_t − √ᾱ·μ)/(ᾱ·s² + 1 − ᾱ)."""

    def eps_fn(xt: Tensor, t: Tensor) -> Tensor:
        abar = _at(s.alphas_cumprod, t, xt)
        return (1 - abar).sqrt() * (xt - abar.sqrt() * mean) / (abar * std**2 + 1 - abar)

    return eps_fn


def _log_weights(k: int, weights: Tensor | None) -> Tensor:
    """log w_k of a mixture's ``k`` components in float64: equal weights unless given."""
    w = weights if weights is not None else torch.full((k,), 1.0 / k, dtype=torch.float64)
    return torch.log(w.to(torch.float64))


def mixture_eps(s: Schedule, means: Tensor, std: float, weights: Tensor | None = None) -> EpsFn:
    """ε* = −√(1 − ᾱ_t)·∇ log Σ_k w_k N(x_t; √ᾱ_t μ_k, (ᾱ_t σ² + 1 − ᾱ_t) I), isotropic σ."""
    means = means.to(torch.float64)
    logw = _log_weights(len(means), weights)

    def eps_fn(xt: Tensor, t: Tensor) -> Tensor:
        x = xt.to(torch.float64)
        abar = _at(s.alphas_cumprod, t, x)  # (n, 1)
        var = abar * std**2 + 1 - abar
        centres = abar.sqrt()[:, :, None] * means.T[None]  # (n, d, k)
        diff = x[:, :, None] - centres
        logits = logw[None] - 0.5 * (diff**2).sum(1) / var
        resp = torch.softmax(logits, dim=1)  # (n, k): posterior over components
        score = -(resp[:, None, :] * diff).sum(2) / var
        return (-(1 - abar).sqrt() * score).to(xt.dtype)

    return eps_fn


def mixture_log_prob(x: Tensor, means: Tensor, std: float, weights: Tensor | None = None) -> Tensor:
    """log Σ_k w_k N(x; μ_k, σ² I) for each row of ``x``: the true density of the mixtures."""
    x, means = x.to(torch.float64), means.to(torch.float64)
    k, d = means.shape
    logw = _log_weights(k, weights)
    sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    comp = -0.5 * sq / std**2 - d * math.log(std) - 0.5 * d * LOG_2PI
    return torch.logsumexp(logw[None] + comp, dim=1)
