"""Built-in plugin ``rl-llm``: the topic and the trainers of task ``preference``.

    TOPICLAB_PLUGINS=topiclab.plugins.rl_llm topiclab run rl-llm --profile quick

The trainers follow one interface (``topiclab/nn/preference_trainers.py``)::

    spec = ctx.registry.trainer("dpo", task="preference")
    trainer = spec.create({"beta": 0.1, "steps": 200})        # validated by its config
    history = trainer.fit(problem, progress)                  # a PreferenceProblem

so a user's own alignment loss is one more ``TrainerSpec`` with task ``preference``.
Registrations only; the modules are imported inside the hooks (no torch at import time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec

if TYPE_CHECKING:
    from topiclab.core.topic import Topic


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    from topiclab.plugins.rl_llm.topic import RLLLMTopic

    return [RLLLMTopic]


@hookimpl
def topiclab_register_trainers() -> list[TrainerSpec]:
    from topiclab.nn import ppo
    from topiclab.nn import preference_trainers as pt

    def spec(key: str, build: Any, config: Any, summary: str) -> TrainerSpec:
        return TrainerSpec(key=key, task="preference", build=build, config=config, summary=summary)

    return [
        spec(
            "reward-model",
            pt.RewardModelTrainer,
            pt.RewardModelConfig,
            "Bradley–Terry reward model: −log σ(r(y_w) − r(y_l)).",
        ),
        spec(
            "ppo",
            ppo.PPOTrainer,
            ppo.PPOConfig,
            "RLHF-PPO: per-token KL penalty, GAE, clipped policy and value losses; each "
            "PPO-max trick a switch (Zheng et al. 2023).",
        ),
        spec(
            "dpo",
            pt.DPOTrainer,
            pt.PairwiseConfig,
            "DPO (Rafailov et al. 2023): −log σ(β·log-ratio margin).",
        ),
        spec("ipo", pt.IPOTrainer, pt.IPOConfig, "IPO (Azar et al. 2023): (h − 1/(2τ))²."),
        spec(
            "slic-hf",
            pt.SLiCTrainer,
            pt.SLiCConfig,
            "SLiC-HF (Zhao et al. 2023): hinge with margin δ plus λ·SFT regulariser.",
        ),
    ]
