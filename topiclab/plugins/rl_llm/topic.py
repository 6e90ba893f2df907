"""Topic ``rl-llm``: reinforcement learning in LLMs — PPO with its tricks, DPO, IPO, SLiC-HF.

    TOPICLAB_PLUGINS=topiclab.plugins.rl_llm topiclab run rl-llm --profile quick
    topiclab run rl-llm          # standard: runs (or reuses) the llama topic's model first

generate: π_ref by SFT and Bradley–Terry pairs in the exact world; held-out prompts and
          SFT-sampled, gold-labelled pairs for the llama topic's model (data.py).
train:    reward models and every ``preference`` trainer by registry key, in both worlds; a
          failing method is recorded by name (train.py).
evaluate: exact frontier, KL to π*, reward-model vs Bayes accuracy, over-optimisation, PPO
          ablation; gold reward, win rate and KL in the LM world (evaluate.py); claims.py,
          figures.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

from topiclab.core.topic import StageContext, StageResult, Topic, TopicConfig
from topiclab.plugins.rl_llm import data as _data
from topiclab.plugins.rl_llm import evaluate as _evaluate
from topiclab.plugins.rl_llm import train as _train
from topiclab.plugins.rl_llm.config import PROFILES, RLLLMConfig, check_llama


class RLLLMTopic(Topic):
    key = "rl-llm"
    title = "Reinforcement learning in LLMs"
    summary = (
        "RLHF with PPO (each PPO-max trick a switch), DPO, IPO and SLiC-HF: against the exact "
        "optimum π* ∝ π_ref·exp(r/β) in an enumerable world, and on the llama topic's "
        "Shakespeare model with a programmatic gold reward and a learned reward model."
    )
    Config = RLLLMConfig
    profiles = PROFILES
    # llama's trained model and the text its generate stage held out: an llama evaluation
    # option recomputes nothing here (core.dag).
    consumes: ClassVar[dict[str, str]] = {
        "model": "llama:train:model",
        "held_out": "llama:generate:val_text",
    }

    @classmethod
    def check_upstream(cls, config: TopicConfig, upstream: Mapping[str, Mapping[str, Any]]) -> None:
        check_llama(cast(RLLLMConfig, config), upstream["llama"])

    def generate(self, ctx: StageContext) -> StageResult:
        return _data.generate(ctx, ctx.cfg(RLLLMConfig))

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        return _train.train(ctx, ctx.cfg(RLLLMConfig), data)

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        return _evaluate.evaluate(ctx, ctx.cfg(RLLLMConfig), data, trained)
