"""Built-in plugin ``diffusion``: the topic and the shared ``ddpm`` trainer (task generative).

topiclab run diffusion --profile quick
reg.trainer("ddpm", task="generative").create({"steps": 1000})   # validated by DDPMConfig
"""

from __future__ import annotations

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec
from topiclab.core.topic import Topic
from topiclab.nn.ddpm_trainer import DDPMConfig, DDPMTrainer


def build_ddpm(config: DDPMConfig) -> DDPMTrainer:
    """A fresh ``DDPMTrainer``; ``TrainerSpec.create`` validates a dict of options first."""
    return DDPMTrainer(config)


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    from topiclab.plugins.diffusion.topic import DiffusionTopic

    return [DiffusionTopic]


@hookimpl
def topiclab_register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec(
            key="ddpm",
            task="generative",
            build=build_ddpm,
            config=DDPMConfig,
            summary="DDPM (ε-prediction, L_simple, EMA): MLP for points, U-Net 8×8",
        )
    ]
