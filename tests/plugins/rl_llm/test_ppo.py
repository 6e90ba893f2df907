"""PPO's pieces: GAE against hand computations, the adaptive KL controller, and the ratio
being exactly 1 (nothing clipped) on the first minibatch of every batch.

PYTHONPATH=$PWD .venv/bin/pytest tests/plugins/rl_llm/test_ppo.py -q
"""

from __future__ import annotations

import copy

import pytest
import torch

from topiclab.nn import preference as P
from topiclab.nn.ppo import PPOConfig, PPOTrainer
from topiclab.plugins.rl_llm.exact import ExactWorld


def test_gae_is_monte_carlo_at_lambda_1_and_td_at_lambda_0() -> None:
    r = torch.tensor([[1.0, 0.0, 2.0]])
    v = torch.tensor([[0.5, 1.0, 1.5]])
    _, ret = P.gae(r, v, gamma=1.0, lam=1.0)
    assert torch.allclose(ret, torch.tensor([[3.0, 2.0, 2.0]]))  # reward-to-go
    adv0, _ = P.gae(r, v, gamma=1.0, lam=0.0)
    assert torch.allclose(adv0, torch.tensor([[1.5, 0.5, 0.5]]))  # r_t + V_{t+1} − V_t
    adv9, _ = P.gae(r, v, gamma=0.9, lam=0.5)
    d = [1.0 + 0.9 * 1.0 - 0.5, 0.0 + 0.9 * 1.5 - 1.0, 2.0 - 1.5]
    want = [d[0] + 0.45 * (d[1] + 0.45 * d[2]), d[1] + 0.45 * d[2], d[2]]
    assert torch.allclose(adv9, torch.tensor([want]))


def test_adaptive_kl_controller() -> None:
    assert P.adaptive_kl(0.2, kl=12.0, target=6.0, n_steps=256, horizon=10_000) == pytest.approx(
        0.2 * (1 + 0.2 * 256 / 10_000)
    )  # error clipped at +0.2
    assert P.adaptive_kl(0.2, kl=5.4, target=6.0, n_steps=100, horizon=100) == pytest.approx(0.18)


def test_value_clipping_takes_the_larger_loss() -> None:
    old, ret = torch.tensor([0.0]), torch.tensor([1.0])
    assert float(P.ppo_value_loss(torch.tensor([1.0]), old, ret, clip=0.0)) == 0.0
    # clipped value 0.2 is 0.8 from the return: ½·0.64
    assert float(P.ppo_value_loss(torch.tensor([1.0]), old, ret, clip=0.2)) == pytest.approx(0.32)


@pytest.mark.parametrize(
    "tricks", [{}, {"reward_norm": True, "adv_norm": True, "adaptive_kl": True}]
)
def test_ratio_is_one_and_nothing_clipped_on_each_first_minibatch(tricks: dict) -> None:
    w = ExactWorld(n_prompts=2, vocab=3, length=3, seed=0)
    ref = w.new_policy().requires_grad_(False)
    problem = P.PreferenceProblem(
        policy=copy.deepcopy(ref).requires_grad_(True),
        reference=ref,
        prompt_len=1,
        prompts=torch.arange(2),
        sample=w.sample,
        reward=w.reward,
        new_scalar_model=w.new_scalar,
    )
    cfg = PPOConfig(iterations=4, batch_size=64, minibatch_size=16, lr=0.5, **tricks)
    history = PPOTrainer(cfg).fit(problem)
    assert len(history) == 4
    assert all(h["ratio_dev_first"] <= 1e-6 and h["clipfrac_first"] == 0 for h in history)
    # ... while the later minibatches did move (a large lr clips some of them)
    assert max(h["clipfrac"] for h in history) > 0
