"""Built-in plugin ``gato``: the topic "Gato: a generalist agent" and the ``gato`` trainer.

    topiclab run gato --profile quick
    TOPICLAB_PLUGINS=topiclab.plugins.gato topiclab run gato --profile quick   # unpackaged

The trainer (task ``gato``) trains a Llama decoder behind Gato's embeddings on sequences of
token records (``topiclab.nn.gato_tokenizer``) with the loss masked to text and action tokens::

    spec = ctx.registry.trainer("gato", task="gato")
    trainer = spec.create({"steps": 500, "seq_len": 96})
    trainer.fit(train_seqs, val_seqs, progress, images=patches)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec

if TYPE_CHECKING:
    from topiclab.core.topic import Topic
    from topiclab.nn.gato_trainer import GatoTrainer, GatoTrainerConfig


def build_gato_trainer(config: GatoTrainerConfig) -> GatoTrainer:
    from topiclab.nn.gato_trainer import GatoTrainer

    return GatoTrainer(config)


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    from topiclab.plugins.gato.topic import GatoTopic

    return [GatoTopic]


@hookimpl
def topiclab_register_trainers() -> list[TrainerSpec]:
    from topiclab.nn.gato_trainer import GatoTrainerConfig

    return [
        TrainerSpec(
            key="gato",
            task="gato",
            build=build_gato_trainer,
            config=GatoTrainerConfig,
            summary="Gato: Llama decoder behind text/discrete/μ-law/image-patch embeddings, "
            "imitation loss masked to text and action tokens; Llama 2's optimiser recipe.",
        )
    ]
