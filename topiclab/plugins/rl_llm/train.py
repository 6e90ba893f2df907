"""The train stage: every method (trainers of task ``preference``, by registry key) in both worlds.

    from topiclab.plugins.rl_llm.train import train
    result = train(ctx, cfg, data)     # files: exact_train.pt, lm_train.pt; data: errors

Exact world: reward models (a good one, ``n_proxies`` imperfect ones), each method at each β of the
sweep (PPO on the gold reward), PPO against the imperfect reward model (over-optimisation), and
the PPO-trick ablation over seeds. Language-model world: a reward model, then each method from
the SFT model (PPO against the reward model). A method that raises (a diverged loss) is recorded
under ``errors`` with its name; the others go on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn import preference as P
from topiclab.nn.threads import torch_threads
from topiclab.plugins.rl_llm import exact as X
from topiclab.plugins.rl_llm import lm as M
from topiclab.plugins.rl_llm.config import ExactConfig, LMConfig, RLLLMConfig
from topiclab.plugins.rl_llm.data import exact_world

Fitted = tuple[list[dict[str, float]], str | None]


def fit_isolated(
    ctx: StageContext, key: str, options: dict[str, Any], problem: P.PreferenceProblem, run: str
) -> Fitted:
    """(history, None), or ([], "ErrorType: message") when the method fails: one method's
    divergence must not take the others down."""
    spec = ctx.registry.trainer(key, task=P.PREFERENCE_TASK)
    total = int(options.get("steps", options.get("iterations", 1)))
    try:
        trainer = spec.create(options)
        with ctx.progress(run, total=total, child=run) as p:
            return trainer.fit(problem, p), None
    except Exception as err:
        return [], f"{type(err).__name__}: {err}"


def uses_beta(ctx: StageContext, key: str) -> bool:
    config = ctx.registry.trainer(key, task=P.PREFERENCE_TASK).config
    return config is not None and "beta" in config.model_fields


def trainable(ref: nn.Module) -> nn.Module:
    return copy.deepcopy(ref).requires_grad_(True).train()


def scorer(model: nn.Module, prompt_len: int) -> Callable[[Tensor], Tensor]:
    def score(seqs: Tensor) -> Tensor:
        with torch.no_grad():
            return P.scalar_scores(model, seqs, prompt_len)

    return score


@dataclass
class _Exact:
    """What every fit in the exact world shares: the world, π_ref, the logged pairs, the
    stage's record (``policies``, ``histories``, ``errors``, ``rms``, ``proxies``)."""

    ctx: StageContext
    cfg: ExactConfig
    world: X.ExactWorld
    ref: nn.Module
    pairs: dict[str, Tensor]
    out: dict[str, Any]

    def problem(
        self, reward: Callable[[Tensor], Tensor], rm: nn.Module | None = None, **kw: Any
    ) -> P.PreferenceProblem:
        """A fresh trainable copy of π_ref on the pairs, scored by ``reward``."""
        return P.PreferenceProblem(
            policy=trainable(self.ref),
            reference=self.ref,
            prompt_len=1,
            pairs=P.Pairs(**self.pairs),
            prompts=torch.arange(self.world.K),
            sample=self.world.sample,
            reward=reward,
            reward_model=rm,
            new_scalar_model=self.world.new_scalar,
            **kw,
        )

    def fit(self, key: str, options: dict[str, Any], prob: P.PreferenceProblem, run: str) -> None:
        """Fit ``key`` on ``prob`` as ``run`` and record its history and policy (or error)."""
        _record(
            self.out, run, fit_isolated(self.ctx, key, options, prob, f"exact/{run}"), prob.policy
        )


def train_exact(ctx: StageContext, cfg: ExactConfig, seed: int, path: str) -> dict[str, Any]:
    """Reward models, the β sweep, over-optimisation and the PPO ablation, in that order."""
    d = torch.load(path, weights_only=False)
    world = exact_world(cfg, seed)
    ref = world.new_policy()
    ref.load_state_dict(d["ref"])
    ref.requires_grad_(False)
    out: dict[str, Any] = {"policies": {}, "histories": {}, "errors": {}, "rms": {}}
    ex = _Exact(ctx, cfg, world, ref, d["pairs"], out)
    good, small = _reward_models(ex, d["small_rm_pairs"])
    _beta_sweep(ex, good)
    _overoptimisation(ex, small)
    for name, delta in cfg.ablation.items():
        for s in range(cfg.ablation_seeds):
            options = cfg.ablation_base | delta | {"seed": seed + s}
            ex.fit("ppo", options, ex.problem(scorer(good, 1), good), f"ablation/{name}/{s}")
    return out


def _reward_models(ex: _Exact, small_rm_pairs: dict[str, Tensor]) -> tuple[nn.Module, nn.Module]:
    """The good reward model (the pairs DPO & co. see, one epoch) and ``n_proxies`` imperfect
    ones, each on its own ``n_small_rm_pairs`` pairs; returns the good one and the first proxy."""
    cfg, world, out = ex.cfg, ex.world, ex.out
    good = world.new_scalar()
    fit_rm(ex.ctx, cfg.rm, P.Pairs(**ex.pairs), good, "exact/rm/rm")
    out["rms"]["rm"] = good.state_dict()
    small_pairs, n = P.Pairs(**small_rm_pairs), cfg.n_small_rm_pairs
    out["proxies"] = []
    for i in range(cfg.n_proxies):
        chunk = slice(i * n, (i + 1) * n)
        model = world.new_proxy(cfg.proxy)
        fit_rm(
            ex.ctx,
            cfg.rm,
            P.Pairs(small_pairs.chosen[chunk], small_pairs.rejected[chunk]),
            model,
            f"exact/rm/proxy{i}",
        )
        out["proxies"].append(model.state_dict())
    small = world.new_proxy(cfg.proxy)
    small.load_state_dict(out["proxies"][0])
    return good, small


def _beta_sweep(ex: _Exact, good: nn.Module) -> None:
    """Every method at every β of the sweep (one run for a method without β), PPO on the gold
    reward."""
    cfg = ex.cfg
    for beta in cfg.betas:
        for key, opts in cfg.methods.items():
            if not uses_beta(ex.ctx, key) and beta != cfg.betas[0]:
                continue  # no β (SLiC-HF): one run
            run = f"{key}@{beta:g}" if uses_beta(ex.ctx, key) else key
            prob = ex.problem(ex.world.reward, good)
            options = opts | ({"beta": beta} if uses_beta(ex.ctx, key) else {})
            ex.fit(key, options, prob, run)


def _overoptimisation(ex: _Exact, small: nn.Module) -> None:
    """PPO with a small β against the first imperfect reward model, measured on the exact gold
    and proxy rewards as it trains (Gao et al. 2022)."""
    cfg, world = ex.cfg, ex.world
    proxy = world.scalar_table(small)
    ref_logp = world.logp(ex.ref)

    def monitor(policy: nn.Module) -> dict[str, float]:
        lp = world.logp(policy)
        return {
            "gold": world.measure(lp, ref_logp)["reward"],
            "proxy": world.measure(lp, ref_logp, proxy)["reward"],
            "kl_exact": world.measure(lp, ref_logp)["kl"],
        }

    prob = ex.problem(
        scorer(small, 1), small, monitor=monitor, monitor_every=max(2, cfg.overopt_iterations // 24)
    )
    opts = cfg.methods.get("ppo", {}) | {
        "beta": cfg.overopt_beta,
        "iterations": cfg.overopt_iterations,
    }
    ex.fit("ppo", opts, prob, "overopt")


def fit_rm(
    ctx: StageContext, options: dict[str, Any], pairs: P.Pairs, rm: nn.Module, run: str
) -> None:
    """Fits ``rm`` in place (Bradley–Terry on ``pairs``); the topic cannot go on without it."""
    prob = P.PreferenceProblem(policy=rm, reference=rm, prompt_len=1, pairs=pairs, reward_model=rm)
    _, err = fit_isolated(ctx, "reward-model", options, prob, run)
    if err:
        raise RuntimeError(f"exact-world reward model ({run}) failed: {err}")
    rm.requires_grad_(False)


def _record(out: dict[str, Any], run: str, fitted: Fitted, policy: nn.Module) -> None:
    history, err = fitted
    out["histories"][run] = history
    if err:
        out["errors"][run] = err
    else:
        out["policies"][run] = policy.requires_grad_(False).state_dict()


def train_lm(ctx: StageContext, cfg: LMConfig, path: str, sft_path: str) -> dict[str, Any]:
    d = torch.load(path, weights_only=False)
    sft = M.load_sft(sft_path)
    plen = cfg.prompt_len
    pairs = P.Pairs(**d["pairs"])
    rm = M.LlamaScalar(sft)
    prob = P.PreferenceProblem(
        policy=sft, reference=sft, prompt_len=plen, pairs=pairs, reward_model=rm
    )
    hist, err = fit_isolated(ctx, "reward-model", cfg.rm, prob, "lm/rm")
    if err:
        raise RuntimeError(f"language-model reward model failed: {err}")
    rm.requires_grad_(False).eval()
    out: dict[str, Any] = {
        "rm": rm.state_dict(),
        "policies": {},
        "histories": {"rm": hist},
        "errors": {},
    }
    for key, opts in cfg.methods.items():
        prob = P.PreferenceProblem(
            policy=M.trainable_copy(sft),
            reference=sft,
            prompt_len=plen,
            pairs=pairs,
            prompts=d["pairs_prompts"],
            sample=M.sampler(cfg.new_tokens),
            reward=scorer(rm, plen),
            reward_model=rm,
            new_scalar_model=lambda: M.LlamaScalar(sft),
        )
        _record(out, key, fit_isolated(ctx, key, opts, prob, f"lm/{key}"), prob.policy)
    return out


def train(ctx: StageContext, cfg: RLLLMConfig, data: StageResult) -> StageResult:
    with torch_threads(cfg.threads):
        ex = train_exact(ctx, cfg.exact, cfg.seed, data.files["exact"])
        lmw = train_lm(ctx, cfg.lm, data.files["lm"], data.files["sft_model"])
    torch.save(ex, ctx.path("exact_train.pt"))
    torch.save(lmw, ctx.path("lm_train.pt"))
    errors = {f"exact/{k}": v for k, v in ex["errors"].items()}
    errors |= {f"lm/{k}": v for k, v in lmw["errors"].items()}
    return StageResult(
        metrics={"failed_methods": len(errors)},
        files={
            "exact_train": str(ctx.path("exact_train.pt")),
            "lm_train": str(ctx.path("lm_train.pt")),
        },
        data={"errors": errors},
    )
