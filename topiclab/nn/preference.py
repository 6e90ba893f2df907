"""Preference optimisation for autoregressive policies: sequence log-probs, the losses, PPO's
advantage estimate, and the problem every trainer of task ``"preference"`` receives.

    from topiclab.nn.preference import dpo_loss, sequence_logprobs, PreferenceProblem
    logp = sequence_logprobs(policy, tokens, prompt_len)       # [B], prompt tokens masked out
    loss = dpo_loss(logp_w, logp_l, ref_w, ref_l, beta=0.1)     # [B]; log 2 where π = π_ref

A policy is any ``nn.Module`` with ``forward(tokens [B, T]) -> logits [B, T, V]`` (the shared
Llama and the exact world's tabular policy both are); a scalar model (reward model, critic) has
``forward(tokens) -> [B, T]``. Sequences are ``[prompt (prompt_len tokens), response]``. The
formulas are the papers': Bradley & Terry (1952); DPO, Rafailov et al. 2023 eq. 7; IPO, Azar
et al. 2023 eq. 17; SLiC-HF, Zhao et al. 2023 eq. 3; GAE, Schulman et al. 2016 eq. 16; PPO,
Schulman et al. 2017 eq. 7; the adaptive KL controller, Ziegler et al. 2019 eq. 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PREFERENCE_TASK = "preference"


class TrainingDiverged(FloatingPointError):
    """A preference loss became NaN or infinite; the message names the method and the step."""


@dataclass
class Pairs:
    """Preference pairs as full sequences [N, T] (prompt then response); ``sft``: a target
    response per prompt (SLiC-HF's regulariser), or None."""

    chosen: Tensor
    rejected: Tensor
    sft: Tensor | None = None

    def __len__(self) -> int:
        return int(self.chosen.shape[0])


@dataclass
class PreferenceProblem:
    """What a ``preference`` trainer's ``fit(problem, progress)`` gets; it trains in place
    ``policy`` (policy methods) or ``reward_model`` (the reward-model trainer).

    ``sample(policy, prompts, generator) -> sequences`` and ``reward(sequences) -> [B]`` serve
    on-policy methods; ``new_scalar_model()`` builds a fresh critic; ``monitor(policy)`` (every
    ``monitor_every`` updates) returns extra measurements for the history.
    """

    policy: nn.Module
    reference: nn.Module
    prompt_len: int
    pairs: Pairs | None = None
    prompts: Tensor | None = None
    sample: Callable[[nn.Module, Tensor, torch.Generator], Tensor] | None = None
    reward: Callable[[Tensor], Tensor] | None = None
    reward_model: nn.Module | None = None
    new_scalar_model: Callable[[], nn.Module] | None = None
    monitor: Callable[[nn.Module], dict[str, float]] | None = None
    monitor_every: int = 0


def token_logprobs_from_logits(logits: Tensor, tokens: Tensor, prompt_len: int) -> Tensor:
    """log π(token_t | tokens_<t) of the response tokens only: [B, T - prompt_len].

    ``logits`` [B, T - 1, V] are the model's outputs on ``tokens[:, :-1]``: position j predicts
    token j + 1, so the response (tokens ``prompt_len`` ...) is predicted from position
    ``prompt_len - 1`` on. Prompt tokens are sliced away, so they add nothing to the value or
    its gradient (the off-by-one here is the classic silent bug).
    """
    if not 1 <= prompt_len < tokens.shape[1]:
        raise ValueError(f"prompt_len {prompt_len} must be in [1, {tokens.shape[1] - 1}]")
    logp = torch.log_softmax(logits[:, prompt_len - 1 :].float(), dim=-1)
    return logp.gather(-1, tokens[:, prompt_len:, None]).squeeze(-1)


def token_logprobs(model: nn.Module, tokens: Tensor, prompt_len: int) -> Tensor:
    """Response-token log-probs [B, L] of ``model`` on full sequences ``tokens`` [B, T]."""
    return token_logprobs_from_logits(model(tokens[:, :-1]), tokens, prompt_len)


def sequence_logprobs(model: nn.Module, tokens: Tensor, prompt_len: int) -> Tensor:
    """log π(response | prompt) per row [B]: the sum over response tokens."""
    return token_logprobs(model, tokens, prompt_len).sum(-1)


def scalar_scores(model: nn.Module, tokens: Tensor, prompt_len: int) -> Tensor:
    """A reward model's score per sequence [B]: its per-position outputs summed over the
    response (a token-level reward model; the sum is the sequence's reward)."""
    return model(tokens)[:, prompt_len:].sum(-1)


# ---- losses on sequence log-probs (all per pair, [B]) ----


def bradley_terry_loss(score_w: Tensor, score_l: Tensor) -> Tensor:
    """−log σ(r_w − r_l): the reward model's negative log-likelihood of the labels."""
    return -F.logsigmoid(score_w - score_l)


def log_ratio_margin(pw: Tensor, pl: Tensor, rw: Tensor, rl: Tensor) -> Tensor:
    """h = log π(y_w)/π_ref(y_w) − log π(y_l)/π_ref(y_l)."""
    return (pw - rw) - (pl - rl)


def dpo_loss(pw: Tensor, pl: Tensor, rw: Tensor, rl: Tensor, beta: float) -> Tensor:
    """DPO: −log σ(β h); log 2 when π = π_ref."""
    return -F.logsigmoid(beta * log_ratio_margin(pw, pl, rw, rl))


def ipo_loss(pw: Tensor, pl: Tensor, rw: Tensor, rl: Tensor, beta: float) -> Tensor:
    """IPO: (h − 1/(2β))², β being IPO's τ (TRL's ``loss_type="ipo"``)."""
    return (log_ratio_margin(pw, pl, rw, rl) - 1.0 / (2.0 * beta)) ** 2


def slic_loss(pw: Tensor, pl: Tensor, p_sft: Tensor, delta: float, lam: float) -> Tensor:
    """SLiC-HF: max(0, δ − log π(y⁺) + log π(y⁻)) − λ log π(y_ref); no reference model."""
    return torch.relu(delta - pw + pl) - lam * p_sft


# ---- PPO ----


def gae(rewards: Tensor, values: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Advantages and returns [B, L] over response tokens; the value after the last token is 0
    (the episode ends there): δ_t = r_t + γ V_{t+1} − V_t, A_t = Σ_l (γλ)^l δ_{t+l}."""
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    n = rewards.shape[1]
    for t in reversed(range(n)):
        next_v = values[:, t + 1] if t + 1 < n else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_v - values[:, t]
        last = delta + gamma * lam * last
        adv[:, t] = last
    return adv, adv + values


def ppo_policy_loss(
    logp: Tensor, old_logp: Tensor, adv: Tensor, clip: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The clipped surrogate −E[min(ρA, clip(ρ, 1 ± ε)A)], the ratios ρ, the clipped fraction."""
    ratio = torch.exp(logp - old_logp)
    surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1 - clip, 1 + clip) * adv)
    clipped = ((ratio - 1).abs() > clip).float().mean()
    return -surrogate.mean(), ratio, clipped


def ppo_value_loss(values: Tensor, old_values: Tensor, returns: Tensor, clip: float) -> Tensor:
    """½ E[(V − R)²]; with ``clip`` > 0 the larger of that and the loss of V kept within ±clip of
    the roll-out's values (PPO2's value clipping)."""
    loss = (values - returns) ** 2
    if clip > 0:
        clipped = old_values + torch.clamp(values - old_values, -clip, clip)
        loss = torch.max(loss, (clipped - returns) ** 2)
    return 0.5 * loss.mean()


def adaptive_kl(beta: float, kl: float, target: float, n_steps: int, horizon: int) -> float:
    """Ziegler et al.'s controller: e = clip(KL/target − 1, ±0.2); β ← β(1 + e·n/horizon)."""
    err = min(max(kl / target - 1.0, -0.2), 0.2)
    return beta * (1.0 + err * n_steps / horizon)


def check_finite(loss: Tensor, method: str, step: int) -> None:
    """Raise ``TrainingDiverged`` naming the method when ``loss`` is NaN or infinite."""
    if not torch.isfinite(loss).all():
        raise TrainingDiverged(f"{method}: loss is {float(loss.detach()):g} at step {step}")


def monitor(problem: PreferenceProblem, step: int) -> dict[str, float]:
    """``problem.monitor(policy)`` every ``monitor_every`` steps, else nothing."""
    if problem.monitor is None or not problem.monitor_every or step % problem.monitor_every:
        return {}
    return problem.monitor(problem.policy)
