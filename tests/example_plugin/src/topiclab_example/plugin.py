"""The plugin module named by the entry point: it only registers things.

pip install -e tests/example_plugin
topiclab plugins                     # shows 'example' with its hooks
topiclab run ridge --profile quick   # the topic this plugin adds
topiclab run diffusion --set trainer=gmm   # its trainer, selected by an existing topic
"""

from __future__ import annotations

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec
from topiclab_example.gmm import GMMConfig, GMMTrainer
from topiclab_example.ridge import RidgeTopic


@hookimpl
def topiclab_register_topics() -> list[type]:
    return [RidgeTopic]


@hookimpl
def topiclab_register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec(
            key="gmm",
            task="generative",
            build=GMMTrainer,
            config=GMMConfig,
            summary="Gaussian mixture fitted by EM (scikit-learn); a baseline.",
        )
    ]
