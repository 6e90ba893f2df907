"""The rl-llm topic's config. Defaults are the ``standard`` profile (2 CPU cores, the llama
topic's model reused through the DAG, not retrained).

    topiclab run rl-llm --profile quick --set exact.sft_steps=200

Methods are registry keys of task ``preference`` with their options; a method whose options
have a ``beta`` gets each β of the sweep in the exact world.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from topiclab.core.config import RegistryKey, RegistryOptions
from topiclab.core.topic import ConfigSection, Distinct, FieldError, TopicConfig

MethodOptions = Annotated[
    dict[str, dict[str, Any]], RegistryKey("trainer", task="preference", keys_of_mapping=True)
]
PosFloat = Annotated[float, Field(gt=0, le=1e4)]
RewardModelOptions = Annotated[
    dict[str, Any], RegistryOptions("trainer", key="reward-model", task="preference")
]
MAX_SEQUENCES = 1_000_000  # prompts × V^L, each enumerated (1 GB to build and score once)
CLAIM_METHODS = ("ppo", "dpo")  # exact.methods the claims read (claims.exact_claims)
PPOOptions = Annotated[dict[str, Any], RegistryOptions("trainer", key="ppo", task="preference")]


def _exact_methods() -> dict[str, dict[str, Any]]:
    return {
        "ppo": {
            "iterations": 80,
            "lr": 0.05,
            "critic_lr": 0.05,
            "batch_size": 256,
            "minibatch_size": 128,
            "adv_norm": False,
        },
        "dpo": {"steps": 150, "lr": 0.05, "batch_size": 2000},
        "ipo": {"steps": 150, "lr": 0.05, "batch_size": 2000},
        "slic-hf": {"steps": 150, "lr": 0.05, "batch_size": 2000, "delta": 1.0, "lam": 0.1},
    }


def _lm_methods() -> dict[str, dict[str, Any]]:
    return {
        "ppo": {
            "beta": 0.05,
            "iterations": 30,
            "lr": 3e-4,
            "critic_lr": 1e-3,
            "batch_size": 64,
            "minibatch_size": 32,
            "epochs": 2,
            "reward_norm": True,
            "critic_from_rm": True,
            "vf_coef": 0.5,
        },
        "dpo": {"beta": 0.1, "steps": 60, "lr": 3e-4, "batch_size": 32, "grad_clip": 1.0},
        "ipo": {"beta": 0.1, "steps": 60, "lr": 3e-4, "batch_size": 32, "grad_clip": 1.0},
        "slic-hf": {
            "steps": 60,
            "lr": 1e-4,
            "batch_size": 32,
            "delta": 1.0,
            "lam": 0.05,
            "grad_clip": 1.0,
        },
    }


def _ablation() -> dict[str, dict[str, Any]]:
    """PPO-max (every trick on) and one trick off at a time (Zheng et al. 2023, sec. 5); the
    names are MLflow-safe (they become parameter names)."""
    return {
        "ppo-max": {},
        "no-reward-norm": {"reward_norm": False, "reward_clip": 0.0},
        "no-adv-norm": {"adv_norm": False},
        "no-value-clip": {"value_clip": 0.0},
        "no-grad-clip": {"grad_clip": 0.0},
        "critic-not-from-rm": {"critic_from_rm": False},
        "fixed-kl": {"adaptive_kl": False},
        "no-kl-penalty": {"beta": 0.0, "adaptive_kl": False},
    }


class ExactConfig(ConfigSection):
    n_prompts: int = Field(default=4, ge=1, le=64)
    vocab: int = Field(default=6, ge=2, le=16)
    length: int = Field(default=4, ge=1, le=6, description="V^L responses are enumerated")
    demo_scale: float = Field(default=0.5, gt=0, le=100, description="demonstrator logit std")
    n_demos: int = Field(default=2000, ge=1, le=10_000_000)
    sft_steps: int = Field(default=150, ge=1, le=1_000_000)
    n_pairs: int = Field(
        default=300_000, ge=10, le=10_000_000, description="one epoch of DPO & co. (150 × 2000)"
    )
    n_small_rm_pairs: int = Field(
        default=300, ge=10, le=10_000_000, description="pairs of each imperfect reward model"
    )
    n_proxies: int = Field(
        default=8, ge=1, le=1000, description="imperfect reward models, each on its own pairs"
    )
    proxy: Literal["bag-of-tokens", "table"] = Field(
        default="bag-of-tokens",
        description="the imperfect reward models' class (a table holds the gold exactly)",
    )
    n_test_pairs: int = Field(default=20_000, ge=10, le=10_000_000)
    rm: RewardModelOptions = Field(
        default_factory=lambda: {"steps": 150, "lr": 0.05, "batch_size": 2000},
        description="reward-model options (one epoch of the pairs, as DPO)",
    )
    betas: Annotated[list[PosFloat], Distinct] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0, 4.0], min_length=1
    )
    claim_beta: float = Field(default=1.0, gt=0, le=1e4, description="β of the exact claims")
    methods: MethodOptions = Field(default_factory=_exact_methods)
    overopt_beta: float = Field(default=0.05, gt=0, le=1e4)
    overopt_iterations: int = Field(default=120, ge=1, le=1_000_000)
    ablation: Annotated[
        dict[str, dict[str, Any]],
        RegistryOptions("trainer", key="ppo", task="preference", per_entry=True),
    ] = Field(default_factory=_ablation)
    ablation_base: PPOOptions = Field(
        default_factory=lambda: {
            "iterations": 40,
            "lr": 0.05,
            "critic_lr": 0.05,
            "batch_size": 256,
            "minibatch_size": 128,
            "reward_norm": True,
            "reward_clip": 5.0,
            "adv_norm": True,
            "value_clip": 0.2,
            "grad_clip": 1.0,
            "critic_from_rm": True,
            "adaptive_kl": True,
            "kl_target": 0.4,
            "kl_horizon": 2000,
        }
    )
    ablation_seeds: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _enumerable(self) -> ExactConfig:
        sequences = self.n_prompts * self.vocab**self.length
        if sequences > MAX_SEQUENCES:
            raise ValueError(
                f"{self.n_prompts} prompts × {self.vocab}^{self.length} responses are "
                f"{sequences:,} sequences to enumerate, more than {MAX_SEQUENCES:,}: lower "
                "n_prompts, vocab or length"
            )
        return self

    @model_validator(mode="after")
    def _claims_can_be_built(self) -> ExactConfig:
        # The exact claims read PPO's and DPO's runs at claim_beta: without them the evaluate
        # stage failed after the whole training.
        if self.claim_beta not in self.betas:
            raise FieldError(
                "claim_beta", f"{self.claim_beta} is not one of exact.betas {self.betas}"
            )
        missing = [m for m in CLAIM_METHODS if m not in self.methods]
        if missing:
            raise FieldError(
                "methods", f"the exact claims need {', '.join(CLAIM_METHODS)}; missing: {missing}"
            )
        return self


class LMConfig(ConfigSection):
    prompt_len: int = Field(default=24, ge=1, le=100)
    new_tokens: int = Field(default=16, ge=1, le=100)
    n_pairs: int = Field(
        default=12_000,
        ge=4,
        le=1_000_000,
        description="6,000 left the reward model 2.5 points under Bayes, 1,500 8.7",
    )
    n_test_pairs: int = Field(default=1000, ge=4, le=1_000_000)
    n_eval: int = Field(default=256, ge=4, le=1_000_000, description="held-out prompts")
    rm: RewardModelOptions = Field(
        default_factory=lambda: {"steps": 188, "lr": 3e-4, "batch_size": 64, "grad_clip": 1.0},
        description="one epoch of the pairs: more epochs fit the label noise",
    )
    methods: MethodOptions = Field(default_factory=_lm_methods)
    n_samples_shown: int = Field(default=3, ge=0, le=100)


class RLLLMConfig(TopicConfig):
    model_config = ConfigDict(strict=True)

    threads: int = Field(default=1, ge=0, le=1_024, description="torch threads (0: default)")
    exact: ExactConfig = Field(default_factory=ExactConfig)
    lm: LMConfig = Field(default_factory=LMConfig)


def check_llama(cfg: RLLLMConfig, llama: Mapping[str, Any]) -> None:
    """The llama topic's config (JSON), before it trains for this topic: its model must be
    byte-level (the gold reward reads bytes) and read a prompt with its response; ``lm.load_sft``
    and ``data.check_context`` check the model itself, once trained."""
    kind = llama["tokenizer"]["kind"]
    if kind != "byte":
        raise FieldError(
            "llama:tokenizer.kind",
            f"rl-llm needs the llama topic's byte-level model (vocabulary 256); got {kind!r}",
        )
    lm, seq_len = cfg.lm, llama["model"]["seq_len"]
    if lm.prompt_len + lm.new_tokens > seq_len:
        raise FieldError(
            "llama:model.seq_len",
            f"{seq_len} tokens, fewer than rl-llm's lm.prompt_len ({lm.prompt_len}) + "
            f"lm.new_tokens ({lm.new_tokens}): raise it, or lower those",
        )


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "exact": {
            "n_prompts": 2,
            "vocab": 3,
            "length": 3,
            "n_demos": 200,
            "sft_steps": 20,
            "n_pairs": 500,
            "n_small_rm_pairs": 50,
            "n_proxies": 2,
            "n_test_pairs": 200,
            "rm": {"steps": 10, "lr": 0.05, "batch_size": 200},
            "betas": [0.5, 1.0],
            "methods": {
                "ppo": {"iterations": 4, "batch_size": 32, "minibatch_size": 16, "lr": 0.05},
                "dpo": {"steps": 10, "batch_size": 100},
                "ipo": {"steps": 10, "batch_size": 100},
                "slic-hf": {"steps": 10, "batch_size": 100},
            },
            "overopt_iterations": 4,  # monitored every 2nd: rows with and without gold
            # the pair the ablation_kl_penalty claim reads: the quick run builds that claim
            "ablation": {"ppo-max": {}, "no-kl-penalty": {"beta": 0.0, "adaptive_kl": False}},
            "ablation_base": {
                "iterations": 3,
                "batch_size": 32,
                "minibatch_size": 16,
                "critic_from_rm": True,
                "adaptive_kl": True,
            },
            "ablation_seeds": 2,
        },
        "lm": {
            "prompt_len": 8,
            "new_tokens": 4,
            "n_pairs": 16,
            "n_test_pairs": 8,
            "n_eval": 8,
            "rm": {"steps": 2, "batch_size": 8},
            "methods": {
                "ppo": {
                    "iterations": 2,
                    "batch_size": 8,
                    "minibatch_size": 4,
                    "epochs": 1,
                    "critic_from_rm": True,
                },
                "dpo": {"steps": 2, "batch_size": 8},
                "ipo": {"steps": 2, "batch_size": 8},
                "slic-hf": {"steps": 2, "batch_size": 8},
            },
            "n_samples_shown": 2,
        },
    },
    "full": {
        "threads": 0,
        "exact": {"ablation_seeds": 5},
        "lm": {
            "n_pairs": 20_000,
            "n_eval": 1000,
            "rm": {"steps": 313, "lr": 3e-4, "batch_size": 64, "grad_clip": 1.0},
        },
    },
}
