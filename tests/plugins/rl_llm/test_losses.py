"""The preference losses against their formulas, TRL and the reference's exact constants.

PYTHONPATH=$PWD .venv/bin/pytest tests/plugins/rl_llm/test_losses.py -q
"""

from __future__ import annotations

import math

import pytest
import torch

from topiclab.nn import preference as P
from topiclab.plugins.rl_llm.exact import closed_form_optimum


def logps(n: int = 8, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [-10 * torch.rand(n, generator=g, dtype=torch.float64) for _ in range(4)]


def test_dpo_loss_at_the_reference_is_log2_with_weight_half() -> None:
    pw, pl, _, _ = logps()
    pw.requires_grad_(True)
    loss = P.dpo_loss(pw, pl, pw.detach(), pl, beta=0.3)
    assert torch.allclose(loss, torch.full_like(loss, math.log(2)), atol=1e-12)
    loss.sum().backward()
    # ∂/∂ log π(y_w) = −β σ(r̂_l − r̂_w) = −β/2 at initialisation (DPO §4's weight 0.5)
    assert torch.allclose(pw.grad, torch.full_like(pw, -0.15), atol=1e-12)


def test_ipo_and_slic_follow_their_formulas() -> None:
    pw, pl, rw, rl = (torch.tensor([v], dtype=torch.float64) for v in (-3.0, -5.0, -4.0, -4.5))
    h = (-3.0 + 4.0) - (-5.0 + 4.5)  # 1.5
    assert float(P.ipo_loss(pw, pl, rw, rl, beta=0.25)) == pytest.approx((h - 2.0) ** 2)
    assert float(P.ipo_loss(rw, rl, rw, rl, beta=0.1)) == pytest.approx(25.0)  # (1/(2β))²
    sft = torch.tensor([-7.0], dtype=torch.float64)
    # margin 2 ≥ δ = 1: the hinge is 0, only −λ log π(y_ref) = 0.1·7 is left
    assert float(P.slic_loss(pw, pl, sft, delta=1.0, lam=0.1)) == pytest.approx(0.7)
    assert float(P.slic_loss(pw, pl, sft, delta=3.0, lam=0.0)) == pytest.approx(1.0)


def test_closed_form_optimum_of_the_reference_toy() -> None:
    got = closed_form_optimum([1.0, 0.0, -1.0], beta=0.5)
    assert got == pytest.approx([0.86681, 0.11731, 0.01588], abs=5e-6)


def test_prompt_tokens_add_nothing_to_logprobs_or_gradients() -> None:
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 7, (3, 9), generator=g)
    logits = torch.randn(3, 8, 7, generator=g, requires_grad=True)
    plen = 4
    lp = P.token_logprobs_from_logits(logits, tokens, plen).sum(-1)
    manual = sum(
        torch.log_softmax(logits[:, j], -1).gather(-1, tokens[:, j + 1, None]).squeeze(-1)
        for j in range(plen - 1, 8)
    )
    assert torch.allclose(lp, manual)
    lp.sum().backward()
    assert logits.grad is not None
    assert torch.all(logits.grad[:, : plen - 1] == 0)  # positions that predict prompt tokens
    assert torch.all(logits.grad[:, plen - 1 :].abs().sum(-1) > 0)
    other = tokens.clone()
    other[:, 1:plen] = (other[:, 1:plen] + 1) % 7  # change the prompt's own tokens
    assert torch.equal(P.token_logprobs_from_logits(logits, other, plen).sum(-1), lp)


def test_proxy_sweeps_overoptimise_only_a_wrong_proxy() -> None:
    """Optimising the gold itself: gold grows with KL (no over-optimisation) in both sweeps; a
    proxy whose best response is gold's worst: gold rises then falls, and the claims say so."""
    from topiclab.plugins.rl_llm.claims import overopt_claim
    from topiclab.plugins.rl_llm.evaluate import sweep_metrics
    from topiclab.plugins.rl_llm.exact import ExactWorld

    world = ExactWorld(2, 3, 2, seed=0)
    ref = torch.log_softmax(torch.zeros_like(world.gold), -1)
    worst = world.gold.argmin(-1, keepdim=True)
    wrong = world.gold.clone().scatter_(-1, worst, float(world.gold.max()) + 1.0)
    for proxy, overoptimised in ((world.gold, False), (wrong, True)):
        sweeps = {
            "beta": world.proxy_sweep(ref, proxy, [0.01, 0.1, 1.0, 10.0]),
            "best_of_n": world.best_of_n_sweep(ref, proxy, [1, 2, 4, 64, 2**20]),
        }
        for kind, sweep in sweeps.items():
            assert [r["kl"] for r in sweep] == sorted(r["kl"] for r in sweep), kind
            claim = overopt_claim(sweep_metrics(kind, [sweep, sweep]), kind)
            assert claim.passed is overoptimised, (kind, claim.value)


def test_overopt_claim_needs_the_fall_beyond_two_standard_errors() -> None:
    from topiclab.plugins.rl_llm.claims import overopt_claim
    from topiclab.plugins.rl_llm.evaluate import sweep_metrics

    def curve(end: float) -> list[dict[str, float]]:
        return [
            {"kl": 0.0, "gold": 1.0, "proxy": 0.0},
            {"kl": 1.0, "gold": 2.0, "proxy": 1.0},
            {"kl": 2.0, "gold": end, "proxy": 2.0},
        ]

    # mean fall 0.2 in both; the SE of the falls 0.01 (steady) or 0.2 (one model only)
    steady = sweep_metrics("beta", [curve(1.79), curve(1.81)])
    noisy = sweep_metrics("beta", [curve(1.6), curve(2.0)])
    assert overopt_claim(steady, "beta").passed and not overopt_claim(noisy, "beta").passed


def test_best_of_n_is_exact_with_ties() -> None:
    """Against brute force over all n-tuples of responses: P(best of n = y), ties broken
    uniformly at random among the tied samples."""
    import itertools

    from topiclab.plugins.rl_llm.exact import best_of_n_logp

    p = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    proxy = torch.tensor([[1.0, 2.0, 2.0, 0.0]])  # responses 1 and 2 tie at the top
    n = 3
    brute = torch.zeros(4, dtype=torch.float64)
    for tup in itertools.product(range(4), repeat=n):
        prob = float(torch.prod(p[0, list(tup)]))
        best = max(float(proxy[0, i]) for i in tup)
        winners = [i for i in tup if float(proxy[0, i]) == best]
        for i in winners:
            brute[i] += prob / len(winners)
    got = best_of_n_logp(p.log(), proxy, n).exp()[0].double()
    assert torch.allclose(got, brute, atol=1e-6), (got, brute)
    assert torch.allclose(best_of_n_logp(p.log(), proxy, 1).exp(), p, atol=1e-6)
