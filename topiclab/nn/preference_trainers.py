"""The trainers of task ``"preference"``: one interface, ``fit(problem, progress) -> history``.

    spec = ctx.registry.trainer("dpo", task="preference")
    trainer = spec.create({"beta": 0.1, "steps": 300})
    history = trainer.fit(problem, progress)       # trains problem.policy in place

``reward-model`` fits ``problem.reward_model`` on the pairs (Bradley–Terry); ``dpo``, ``ipo`` and
``slic-hf`` fit the policy on the pairs; ``ppo`` samples from the policy and scores with
``problem.reward``. A user's own alignment loss is one more class with this ``fit`` (subclass
``PairwiseTrainer`` and override ``pair_loss``), registered under the same task.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from topiclab.nn import preference as P
from topiclab.nn.generative import ProgressFn

MAX_STEPS = 1_000_000
History = list[dict[str, float]]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lr: float = Field(default=1e-2, gt=0, le=10)
    steps: int = Field(default=300, ge=1, le=MAX_STEPS)
    batch_size: int = Field(default=256, ge=1, le=1_000_000, description="pairs per step")
    grad_clip: float = Field(default=0.0, ge=0, le=1e6, description="0: off")
    seed: int = Field(default=0, ge=0)
    log_every: int = Field(default=10, ge=1, le=MAX_STEPS)


def _step(
    opt: torch.optim.Optimizer, params: list[nn.Parameter], loss: Tensor, clip: float
) -> float:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
    opt.step()
    return float(norm)


def batches(n: int, size: int, g: torch.Generator) -> Iterator[Tensor]:
    """Minibatch indices, epoch after epoch, each epoch a fresh permutation (without
    replacement: a pair is seen once per epoch)."""
    while True:
        yield from torch.randperm(n, generator=g).split(min(size, n))


def _log(history: History, progress: ProgressFn | None, step: int, row: dict[str, float]) -> None:
    history.append({"step": float(step), **row})
    if progress is not None:
        progress(step, **row)


# ---- reward model ----


class RewardModelConfig(_Base):
    weight_decay: float = Field(default=0.0, ge=0, le=10)


class RewardModelTrainer:
    """Bradley–Terry reward model: minimise −log σ(r(y_w) − r(y_l)) over the pairs."""

    name = "reward-model"

    def __init__(self, config: RewardModelConfig) -> None:
        self.config = config

    def fit(self, problem: P.PreferenceProblem, progress: ProgressFn | None = None) -> History:
        c, pairs, model = self.config, problem.pairs, problem.reward_model
        if pairs is None or model is None:
            raise ValueError("reward-model needs problem.pairs and problem.reward_model")
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        order = batches(len(pairs), c.batch_size, torch.Generator().manual_seed(c.seed))
        history: History = []
        for step in range(1, c.steps + 1):
            idx = next(order)
            both = torch.cat([pairs.chosen[idx], pairs.rejected[idx]])
            sw, sl = P.scalar_scores(model, both, problem.prompt_len).chunk(2)
            loss = P.bradley_terry_loss(sw, sl).mean()
            P.check_finite(loss, self.name, step)
            _step(opt, params, loss, c.grad_clip)
            if step % c.log_every == 0 or step == c.steps:
                acc = float((sw > sl).float().mean())
                _log(history, progress, step, {"loss": float(loss.detach()), "accuracy": acc})
        return history


# ---- DPO, IPO, SLiC-HF: one loop, one loss each ----


class PairwiseConfig(_Base):
    beta: float = Field(default=0.1, gt=0, le=1e4, description="KL strength (IPO: its τ)")


class PairwiseTrainer:
    """Offline preference optimisation on the pairs; subclasses define ``pair_loss``."""

    name = "pairwise"
    needs_reference = True

    def __init__(self, config: Any) -> None:
        self.config = config

    def pair_loss(
        self, pw: Tensor, pl: Tensor, rw: Tensor, rl: Tensor, p_sft: Tensor | None
    ) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define pair_loss")

    def logprobs(self, model: nn.Module, tokens: Tensor, prompt_len: int) -> Tensor:
        return P.sequence_logprobs(model, tokens, prompt_len)

    def fit(self, problem: P.PreferenceProblem, progress: ProgressFn | None = None) -> History:
        c, pairs, policy = self.config, problem.pairs, problem.policy
        if pairs is None:
            raise ValueError(f"{self.name} needs problem.pairs")
        n, plen = len(pairs), problem.prompt_len
        with torch.no_grad():  # π_ref is frozen: its log-probs once, in chunks
            ref = torch.cat(
                [self._chunked(problem.reference, t, plen) for t in (pairs.chosen, pairs.rejected)]
            ).reshape(2, n)
        params = [p for p in policy.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=c.lr)
        order = batches(n, c.batch_size, torch.Generator().manual_seed(c.seed))
        history: History = []
        for step in range(1, c.steps + 1):
            idx = next(order)
            seqs = [pairs.chosen[idx], pairs.rejected[idx]]
            if pairs.sft is not None:
                seqs.append(pairs.sft[idx])
            lp = self.logprobs(policy, torch.cat(seqs), plen).reshape(len(seqs), -1)
            p_sft = lp[2] if pairs.sft is not None else None
            loss = self.pair_loss(lp[0], lp[1], ref[0, idx], ref[1, idx], p_sft).mean()
            P.check_finite(loss, self.name, step)
            _step(opt, params, loss, c.grad_clip)
            if step % c.log_every == 0 or step == c.steps:
                margin = P.log_ratio_margin(lp[0], lp[1], ref[0, idx], ref[1, idx])
                row = {"loss": float(loss.detach()), "accuracy": float((margin > 0).float().mean())}
                _log(history, progress, step, row | P.monitor(problem, step))
        return history

    def _chunked(self, model: nn.Module, tokens: Tensor, plen: int, size: int = 512) -> Tensor:
        return torch.cat([self.logprobs(model, t, plen) for t in tokens.split(size)])


class DPOTrainer(PairwiseTrainer):
    """DPO (Rafailov et al. 2023): −log σ(β h) on sequence log-ratios."""

    name = "dpo"

    def pair_loss(self, pw, pl, rw, rl, p_sft):  # type: ignore[no-untyped-def]
        return P.dpo_loss(pw, pl, rw, rl, self.config.beta)


class IPOConfig(PairwiseConfig):
    length_normalise: bool = Field(
        default=True, description="average log-probs over response tokens (TRL, IPO's authors)"
    )


class IPOTrainer(PairwiseTrainer):
    """IPO (Azar et al. 2023): (h − 1/(2τ))², bounded where DPO drives π(y_l) to 0."""

    name = "ipo"

    def logprobs(self, model: nn.Module, tokens: Tensor, prompt_len: int) -> Tensor:
        lp = P.token_logprobs(model, tokens, prompt_len)
        return lp.mean(-1) if self.config.length_normalise else lp.sum(-1)

    def pair_loss(self, pw, pl, rw, rl, p_sft):  # type: ignore[no-untyped-def]
        return P.ipo_loss(pw, pl, rw, rl, self.config.beta)


class SLiCConfig(_Base):
    delta: float = Field(default=1.0, ge=0, le=1e4, description="hinge margin δ (paper: 1)")
    lam: float = Field(default=0.1, ge=0, le=1e4, description="SFT regulariser weight λ")


class SLiCTrainer(PairwiseTrainer):
    """SLiC-HF (Zhao et al. 2023): hinge on log π(y⁺) − log π(y⁻) plus λ·NLL of the SFT target;
    no reference model in the loss (its log-probs are computed for the logged margin only)."""

    name = "slic-hf"

    def pair_loss(self, pw, pl, rw, rl, p_sft):  # type: ignore[no-untyped-def]
        reg = p_sft if p_sft is not None else torch.zeros_like(pw)
        return P.slic_loss(pw, pl, reg, self.config.delta, self.config.lam)
