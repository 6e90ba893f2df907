"""The diffusion numerics against diffusers' DDPMScheduler and closed forms.

.venv/bin/pytest tests/nn/test_diffusion.py -q
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from topiclab.nn import diffusion as D


@pytest.fixture(scope="module")
def sched() -> D.Schedule:
    return D.make_schedule("linear", 1000)


@pytest.fixture(scope="module")
def reference():
    diffusers = pytest.importorskip("diffusers")
    return diffusers.DDPMScheduler(num_train_timesteps=1000, clip_sample=False)


def test_alphas_cumprod_match_diffusers(sched, reference):
    # diffusers multiplies in float32, we in float64: they agree to float32 rounding.
    ref = reference.alphas_cumprod.double()
    assert float(((sched.alphas_cumprod - ref) / ref).abs().max()) < 1e-6
    assert float(ref[-1]) == pytest.approx(4.0358e-5, rel=1e-4)


def test_add_noise_matches_diffusers(sched, reference):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(64, 2, generator=g) * 2, torch.randn(64, 2, generator=g)
    t = torch.randint(0, 1000, (64,), generator=g)
    assert torch.allclose(D.q_sample(sched, x0, t, eps), reference.add_noise(x0, eps, t), atol=1e-6)


def _float64(reference):
    """diffusers' scheduler with its constants in float64, so a comparison tests the formulas
    and not float32 rounding (1 − ᾱ near t = 1 loses 3 digits in float32)."""
    cfg = reference.config
    reference.betas = torch.linspace(
        cfg.beta_start, cfg.beta_end, cfg.num_train_timesteps, dtype=torch.float64
    )
    reference.alphas = 1 - reference.betas
    reference.alphas_cumprod = torch.cumprod(reference.alphas, 0)
    return reference


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("t", [999, 500, 1, 0])
def test_one_step_matches_diffusers(sched, t, variance):
    diffusers = pytest.importorskip("diffusers")
    ref = _float64(
        diffusers.DDPMScheduler(num_train_timesteps=1000, clip_sample=False, variance_type=variance)
    )
    g = torch.Generator().manual_seed(1)
    xt = torch.randn(128, 2, generator=g, dtype=torch.float64)
    eps = torch.randn(128, 2, generator=g, dtype=torch.float64)
    expected = ref.step(eps, t, xt, generator=torch.Generator().manual_seed(7)).prev_sample
    noise = torch.randn(xt.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    ours = D.p_sample_step(sched, eps, xt, t, noise, variance)
    assert torch.allclose(ours, expected, atol=1e-10, rtol=0)
    if t > 0:  # the noise matters: a wrong draw would not match
        assert not torch.allclose(ours, D.p_sample_step(sched, eps, xt, t, -noise, variance))


def test_one_float32_step_matches_diffusers_to_float32_rounding(sched, reference):
    g = torch.Generator().manual_seed(2)
    xt, eps = torch.randn(128, 2, generator=g), torch.randn(128, 2, generator=g)
    expected = reference.step(eps, 500, xt, generator=torch.Generator().manual_seed(3))
    noise = torch.randn(xt.shape, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(
        D.p_sample_step(sched, eps, xt, 500, noise), expected.prev_sample, atol=1e-5
    )


def test_ddpm_schedule_end_and_the_t100_pitfall():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the DDPM schedule must pass silently
        report = D.check_schedule(D.make_schedule("linear", 1000, check=False))
    assert report["alpha_bar_T"] == pytest.approx(4.0358e-5, rel=1e-4)
    assert report["ok"]
    with pytest.warns(D.ScheduleWarning, match="0.364"):
        bad = D.make_schedule("linear", 100)  # same endpoints, a tenth of the steps
    assert float(bad.alphas_cumprod[-1]) == pytest.approx(0.364, abs=5e-4)
    fixed = D.make_schedule("linear", 100, beta_end=0.2, check=False)
    assert float(fixed.alphas_cumprod[-1]) == pytest.approx(2.14e-5, rel=1e-2)
    assert D.check_schedule(D.make_schedule("cosine", 100, check=False))["ok"]


def test_schedule_constants(sched):
    assert float(sched.alphas_cumprod[499]) == pytest.approx(0.07859, rel=1e-3)
    assert float(sched.posterior_variance[1]) == pytest.approx(5.453e-5, rel=1e-3)


def test_posterior_equals_direct_gaussian_conditioning(sched):
    """Condition the joint Gaussian of (x_{t-1}, x_t) given x_0 directly: must agree to 1e-8."""
    x0 = torch.tensor([[1.3, -0.7]], dtype=torch.float64)
    xt = torch.tensor([[0.4, 2.1]], dtype=torch.float64)
    abar, alpha = sched.alphas_cumprod, sched.alphas
    for t in [1, 10, 500, 999]:
        a_prev = abar[t - 1]
        # x_{t-1} = √ᾱ_{t-1} x_0 + √(1-ᾱ_{t-1}) e1;  x_t = √α_t x_{t-1} + √β_t e2
        m1, v11 = a_prev.sqrt() * x0, 1 - a_prev
        m2, v22 = abar[t].sqrt() * x0, 1 - abar[t]
        v12 = alpha[t].sqrt() * v11
        mean_direct = m1 + v12 / v22 * (xt - m2)
        var_direct = v11 - v12**2 / v22
        mean, var = D.q_posterior(sched, x0, xt, torch.tensor([t]))
        assert torch.allclose(mean, mean_direct, atol=1e-8, rtol=0)
        assert torch.allclose(var, var_direct.expand_as(var), atol=1e-8, rtol=0)


def test_forward_closed_form_by_iteration():
    s = D.make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(0)
    x = torch.full((100_000,), 1.5, dtype=torch.float64)
    for t in range(1000):
        beta = s.betas[t]
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(
            x.shape, generator=g, dtype=torch.float64
        )
        if t in (0, 99, 499, 999):
            abar = s.alphas_cumprod[t]
            assert abs(float(x.mean() - abar.sqrt() * 1.5)) < 0.01
            assert abs(float(x.var() - (1 - abar))) < 0.01


def test_gaussian_kl_against_monte_carlo():
    g = torch.Generator().manual_seed(0)
    m1, v1, m2, v2 = torch.tensor(0.3), torch.tensor(0.5), torch.tensor(-0.2), torch.tensor(1.7)
    x = m1 + v1.sqrt() * torch.randn(2_000_000, generator=g)
    logq = -0.5 * (math.log(2 * math.pi) + v1.log() + (x - m1) ** 2 / v1)
    logp = -0.5 * (math.log(2 * math.pi) + v2.log() + (x - m2) ** 2 / v2)
    assert float(D.gaussian_kl(m1, v1, m2, v2)) == pytest.approx(
        float((logq - logp).mean()), rel=0.01
    )


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_exact_eps_for_gaussian_data_samples_the_gaussian(sched, variance):
    eps_fn = D.gaussian_eps(sched, mean=2.0, std=0.5)
    g = torch.Generator().manual_seed(0)
    x, _ = D.ancestral_sample(sched, eps_fn, (200_000, 1), generator=g, variance=variance)
    # 200k samples: the standard error of the mean is 1.1e-3, so this also pins the seed.
    assert float(x.mean()) == pytest.approx(2.0, abs=1e-3)
    assert float(x.std()) == pytest.approx(0.5, rel=0.02)


def test_exact_mixture_eps_reduces_to_gaussian_eps(sched):
    x = torch.randn(32, 2, dtype=torch.float64)
    t = torch.randint(0, 1000, (32,))
    one = D.mixture_eps(sched, torch.tensor([[2.0, 2.0]]), std=0.5)(x, t)
    assert torch.allclose(one, D.gaussian_eps(sched, 2.0, 0.5)(x, t), atol=1e-10)


def test_ddim_with_exact_eps_reaches_the_target(sched):
    eps_fn = D.gaussian_eps(sched, mean=2.0, std=0.5)
    std_errors = []
    for steps in (20, 50, 200):  # deterministic: the std error is discretisation, it shrinks
        x = D.ddim_sample(
            sched, eps_fn, (50_000, 1), steps=steps, generator=torch.Generator().manual_seed(0)
        )
        # The ODE maps x_T ~ N(0, 1), not q's N(√ᾱ_T·2, ·), so the mean is off by about
        # s·√ᾱ_T·μ = 0.0064, plus 0.0022 sampling error.
        assert float(x.mean()) == pytest.approx(2.0, abs=0.015)
        std_errors.append(abs(float(x.std()) - 0.5))
    assert std_errors[0] > std_errors[1] > std_errors[2]
    assert std_errors[2] < 0.01
    assert D.ddim_timesteps(1000, 20)[0] == 999 and D.ddim_timesteps(1000, 20)[-1] == 0


def test_bound_terms_match_their_closed_form_for_gaussian_data(sched):
    """With x_0 ~ N(m, s²) and the exact ε*, every term of −VLB has a closed-form expectation:
    E‖ε − ε*‖² = Var(ε | x_t) = ᾱ s² / (ᾱ s² + 1 − ᾱ). The Monte-Carlo bound must match it,
    and be above the true NLL (it is loose: fixed variances cost ~0.6 nats here)."""
    g = torch.Generator().manual_seed(0)
    m, sd = 1.0, 0.3
    x0 = m + sd * torch.randn(20_000, 1, generator=g, dtype=torch.float64)
    terms = D.vlb_terms(sched, D.gaussian_eps(sched, m, sd), x0, generator=g).mean(0)
    abar, alpha, beta = sched.alphas_cumprod, sched.alphas, sched.betas
    var_eps = abar * sd**2 / (abar * sd**2 + 1 - abar)
    coef2 = beta**2 / (alpha * (1 - abar))  # (μ̃ − μ_θ)² = coef² (ε − ε*)²
    kl = coef2 * var_eps / (2 * sched.posterior_variance)
    s1 = sched.posterior_variance[1]
    l0 = 0.5 * (math.log(2 * math.pi) + torch.log(s1)) + (1 - abar[0]) / abar[0] * var_eps[0] / (
        2 * s1
    )
    ex2 = float((x0**2).mean())
    lT = 0.5 * (abar[-1] * ex2 + (1 - abar[-1]) - 1 - torch.log(1 - abar[-1]))
    expected = torch.cat([l0.reshape(1), kl[1:], lT.reshape(1)])
    # Monte-Carlo error of the sum: about 0.008 nats with 20k samples (one x_t per term).
    assert float(terms.sum()) == pytest.approx(float(expected.sum()), abs=0.03)
    assert float(terms[0]) == pytest.approx(float(expected[0]), abs=0.02)
    assert float(terms[-1]) == pytest.approx(float(expected[-1]), rel=0.05)
    true_nll = float((0.5 * math.log(2 * math.pi * sd**2) + 0.5 * ((x0 - m) / sd) ** 2).mean())
    assert float(terms.sum()) > true_nll


def test_untrained_l_simple_is_the_dimension(sched):
    x0 = torch.randn(20_000, 2)
    loss = D.l_simple(sched, lambda x, t: torch.zeros_like(x), x0, torch.Generator().manual_seed(0))
    assert float(loss) == pytest.approx(2.0, rel=0.03)
