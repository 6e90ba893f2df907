"""RLHF with PPO (task ``"preference"``), each "PPO-max" trick of Zheng et al. 2023 a switch.

    spec = ctx.registry.trainer("ppo", task="preference")
    trainer = spec.create({"beta": 0.1, "iterations": 100, "adv_norm": True})
    history = trainer.fit(problem, progress)     # problem.sample, .reward, .prompts needed

Per iteration: sample responses from the policy, score them (``problem.reward``: the reward model
or the gold reward), build per-token rewards r_t = −β (log π − log π_ref) with the score added
on the last token, estimate advantages by GAE from a critic, then ``epochs`` passes of clipped
policy and value updates over minibatches. The ratio π/π_old is exactly 1 on the first minibatch
of each iteration (nothing has been updated yet); the history records it.
"""

from __future__ import annotations

import copy

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from topiclab.core.topic import MAX_SEED
from topiclab.nn import preference as P
from topiclab.nn.generative import ProgressFn
from topiclab.nn.preference_trainers import History, _log, _step

MAX = 1_000_000


class PPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    beta: float = Field(default=0.1, ge=0, le=1e4, description="per-token KL penalty (initial)")
    iterations: int = Field(default=100, ge=1, le=MAX)
    batch_size: int = Field(default=256, ge=2, le=MAX, description="responses per iteration")
    minibatch_size: int = Field(default=128, ge=1, le=MAX)
    epochs: int = Field(default=4, ge=1, le=100)
    lr: float = Field(default=1e-2, gt=0, le=10)
    critic_lr: float = Field(default=1e-2, gt=0, le=10)
    gamma: float = Field(default=1.0, ge=0, le=1)
    lam: float = Field(default=0.95, ge=0, le=1, description="GAE λ")
    clip: float = Field(default=0.2, gt=0, le=10, description="policy ratio clip ε")
    vf_coef: float = Field(default=0.5, ge=0, le=100)
    # the PPO-max tricks (Zheng et al. 2023, sec. 5), each a switch
    reward_norm: bool = Field(default=False, description="scores ← (s − running mean)/std")
    reward_clip: float = Field(default=0.0, ge=0, le=1e4, description="clip scores to ±c; 0: off")
    adv_norm: bool = Field(default=True, description="whiten advantages per batch")
    value_clip: float = Field(default=0.2, ge=0, le=1e4, description="value clipping; 0: off")
    grad_clip: float = Field(default=1.0, ge=0, le=1e6, description="global norm; 0: off")
    critic_from_rm: bool = Field(default=False, description="critic starts as the reward model")
    adaptive_kl: bool = Field(default=False, description="Ziegler et al.'s β controller")
    kl_target: float = Field(default=1.0, gt=0, le=1e4)
    kl_horizon: int = Field(default=10_000, ge=1, le=10**9)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    log_every: int = Field(default=1, ge=1, le=MAX)


class RunningMoments:
    """Mean and standard deviation of every score seen so far (Chan et al.'s parallel update)."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, x: Tensor) -> None:
        n, mean, var = x.numel(), float(x.mean()), float(x.var(unbiased=False))
        total = self.n + n
        delta = mean - self.mean
        self.m2 += var * n + delta**2 * self.n * n / total
        self.mean += delta * n / total
        self.n = total

    @property
    def std(self) -> float:
        return max((self.m2 / max(self.n, 1)) ** 0.5, 1e-8)


class PPOTrainer:
    name = "ppo"

    def __init__(self, config: PPOConfig) -> None:
        self.config = config
        self.critic: nn.Module | None = None
        self.moments = RunningMoments()

    def fit(self, problem: P.PreferenceProblem, progress: ProgressFn | None = None) -> History:
        c = self.config
        if problem.sample is None or problem.reward is None or problem.prompts is None:
            raise ValueError("ppo needs problem.sample, problem.reward and problem.prompts")
        self.critic = self._critic(problem)
        pol_params = [p for p in problem.policy.parameters() if p.requires_grad]
        crit_params = [p for p in self.critic.parameters() if p.requires_grad]
        self.opt_pi = torch.optim.Adam(pol_params, lr=c.lr)
        self.opt_v = torch.optim.Adam(crit_params, lr=c.critic_lr)
        self.beta = c.beta
        g = torch.Generator().manual_seed(c.seed)
        history: History = []
        for it in range(1, c.iterations + 1):
            batch = self.rollout(problem, g)
            stats = self.update(problem, batch, g, it)
            if c.adaptive_kl:
                self.beta = P.adaptive_kl(
                    self.beta, stats["kl"], c.kl_target, c.batch_size, c.kl_horizon
                )
            if it % c.log_every == 0 or it == c.iterations:
                _log(history, progress, it, stats | P.monitor(problem, it))
        return history

    def _critic(self, problem: P.PreferenceProblem) -> nn.Module:
        if self.config.critic_from_rm:
            if problem.reward_model is None:
                raise ValueError("ppo: critic_from_rm needs problem.reward_model")
            critic = copy.deepcopy(problem.reward_model)
        elif problem.new_scalar_model is not None:
            critic = problem.new_scalar_model()
        else:
            raise ValueError("ppo needs problem.new_scalar_model (or critic_from_rm)")
        for p in critic.parameters():
            p.requires_grad_(True)
        return critic.train()

    @torch.no_grad()
    def rollout(self, problem: P.PreferenceProblem, g: torch.Generator) -> dict[str, Tensor]:
        c, plen = self.config, problem.prompt_len
        assert problem.prompts is not None and problem.sample is not None and problem.reward
        idx = torch.randint(len(problem.prompts), (c.batch_size,), generator=g)
        seqs = problem.sample(problem.policy, problem.prompts[idx], g)
        old = P.token_logprobs(problem.policy, seqs, plen)
        ref = P.token_logprobs(problem.reference, seqs, plen)
        values = self._values(seqs, plen)
        raw = problem.reward(seqs).float()
        score = raw
        if c.reward_norm:
            self.moments.update(raw)
            score = (raw - self.moments.mean) / self.moments.std
        if c.reward_clip > 0:
            score = score.clamp(-c.reward_clip, c.reward_clip)
        kl = old - ref
        rewards = -self.beta * kl
        rewards[:, -1] += score
        adv, returns = P.gae(rewards, values, c.gamma, c.lam)
        if c.adv_norm:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        return {
            "seqs": seqs,
            "old": old,
            "values": values,
            "adv": adv,
            "returns": returns,
            "kl": kl.sum(-1),
            "score": raw,
        }

    def _values(self, seqs: Tensor, plen: int) -> Tensor:
        """V(s_t) for the state before each response token: positions plen − 1 ... T − 2."""
        assert self.critic is not None
        return self.critic(seqs[:, :-1])[:, plen - 1 :].float()

    def update(
        self, problem: P.PreferenceProblem, b: dict[str, Tensor], g: torch.Generator, it: int
    ) -> dict[str, float]:
        c, plen, n = self.config, problem.prompt_len, b["seqs"].shape[0]
        first: dict[str, float] = {}
        sums = {"pg_loss": 0.0, "v_loss": 0.0, "clipfrac": 0.0, "approx_kl": 0.0}
        count = 0
        for _ in range(c.epochs):
            for mb in torch.randperm(n, generator=g).split(c.minibatch_size):
                logp = P.token_logprobs(problem.policy, b["seqs"][mb], plen)
                pg, ratio, clipped = P.ppo_policy_loss(logp, b["old"][mb], b["adv"][mb], c.clip)
                v = self._values(b["seqs"][mb], plen)
                vl = P.ppo_value_loss(v, b["values"][mb], b["returns"][mb], c.value_clip)
                P.check_finite(pg + vl, self.name, it)
                if not first:  # nothing updated yet in this iteration: ρ must be exactly 1
                    first = {
                        "ratio_dev_first": float((ratio.detach() - 1).abs().max()),
                        "clipfrac_first": float(clipped),
                    }
                _step(self.opt_pi, list(problem.policy.parameters()), pg, c.grad_clip)
                assert self.critic is not None
                _step(self.opt_v, list(self.critic.parameters()), c.vf_coef * vl, c.grad_clip)
                with torch.no_grad():
                    approx = float((b["old"][mb] - logp).sum(-1).mean())
                for k, x in zip(
                    sums,
                    (float(pg.detach()), float(vl.detach()), float(clipped), approx),
                    strict=True,
                ):
                    sums[k] += x
                count += 1
        return {
            "score": float(b["score"].mean()),
            "kl": float(b["kl"].mean()),
            "beta": self.beta,
            **{k: s / count for k, s in sums.items()},
            **first,
        }
