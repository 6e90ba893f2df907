"""Built-in plugin ``diffusion``: the topic and the shared ``ddpm`` trainer (task generative).

topiclab run diffusion --profile quick
reg.trainer("ddpm", task="generative").build(DDPMConfig(steps=1000))
"""

from __future__ import annotations

from typing import Any

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec
from topiclab.core.topic import Topic
from topiclab.nn.ddpm_trainer import DDPMConfig


def build_ddpm(config: DDPMConfig | dict[str, Any] | None) -> Any:
    from topiclab.nn.ddpm_trainer import DDPMTrainer

    if not isinstance(config, DDPMConfig):
        config = DDPMConfig.model_validate(config or {})
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
