"""The plugin module named by the entry point: it only registers things.

pip install -e tests/example_plugin
topiclab plugins                     # shows 'example' with its hooks
topiclab run ridge --profile quick   # the topic this plugin adds
topiclab run diffusion --set trainer=gmm   # its trainer, selected by an existing topic
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec

# torch and scikit-learn are imported by the hooks and the build function, not when the
# plugin is loaded (``topiclab --help`` loads every plugin).
if TYPE_CHECKING:
    from topiclab_example.gmm import GMMConfig, GMMTrainer


def build_gmm(config: GMMConfig) -> GMMTrainer:
    from topiclab_example.gmm import GMMTrainer

    return GMMTrainer(config)


@hookimpl
def topiclab_register_topics() -> list[type]:
    from topiclab_example.ridge import RidgeTopic

    return [RidgeTopic]


@hookimpl
def topiclab_register_trainers() -> list[TrainerSpec]:
    from topiclab_example.gmm import GMMConfig

    return [
        TrainerSpec(
            key="gmm",
            task="generative",
            build=build_gmm,
            config=GMMConfig,
            summary="Gaussian mixture fitted by EM (scikit-learn); a baseline.",
        )
    ]
