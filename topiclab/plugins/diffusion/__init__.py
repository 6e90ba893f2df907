"""Built-in plugin ``diffusion``: the topic and the shared ``ddpm`` trainer (task generative).

topiclab run diffusion --profile quick
reg.trainer("ddpm", task="generative").create({"steps": 1000})   # validated by DDPMConfig
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec

# torch is imported by the build function and the hooks, not when the plugin is loaded.
if TYPE_CHECKING:
    from topiclab.core.topic import Topic
    from topiclab.nn.ddpm_trainer import DDPMConfig, DDPMTrainer


def build_ddpm(config: DDPMConfig) -> DDPMTrainer:
    """A fresh ``DDPMTrainer``; ``TrainerSpec.create`` validates a dict of options first."""
    from topiclab.nn.ddpm_trainer import DDPMTrainer

    return DDPMTrainer(config)


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    from topiclab.plugins.diffusion.topic import DiffusionTopic

    return [DiffusionTopic]


@hookimpl
def topiclab_register_trainers() -> list[TrainerSpec]:
    from topiclab.nn.ddpm_trainer import DDPMConfig

    return [
        TrainerSpec(
            key="ddpm",
            task="generative",
            build=build_ddpm,
            config=DDPMConfig,
            summary="DDPM (ε-prediction, L_simple, EMA): MLP for points, U-Net 8×8",
        )
    ]
