"""Built-in plugin ``llama``: the topic "Llama 2 code anatomy" and the ``llama`` trainer.

    topiclab run llama --profile quick
    python -c "from topiclab.core.stages import run_direct; run_direct('llama', 'quick')"

The trainer (task ``language-model``) is usable by any topic::

    spec = ctx.registry.trainer("llama", task="language-model")
    trainer = spec.create({"steps": 500, "vocab_size": 256})     # validated by its config
    trainer.fit(train_ids, val_ids, progress)      # progress(step, **metrics)
    trainer.model, trainer.history, trainer.save_model(path)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec

if TYPE_CHECKING:
    from topiclab.core.topic import Topic
    from topiclab.nn.llama_trainer import LlamaTrainer, LlamaTrainerConfig


def build_llama_trainer(config: LlamaTrainerConfig) -> LlamaTrainer:
    """A fresh ``LlamaTrainer``; ``TrainerSpec.create`` validates a dict of options first."""
    from topiclab.nn.llama_trainer import LlamaTrainer

    return LlamaTrainer(config)


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    from topiclab.plugins.llama.topic import LlamaTopic

    return [LlamaTopic]


@hookimpl
def topiclab_register_trainers() -> list[TrainerSpec]:
    from topiclab.nn.llama_trainer import LlamaTrainerConfig

    return [
        TrainerSpec(
            key="llama",
            task="language-model",
            build=build_llama_trainer,
            config=LlamaTrainerConfig,
            summary="Llama 2 decoder (RMSNorm, RoPE, SwiGLU, GQA) trained with AdamW "
            "(0.9, 0.95), cosine schedule with warm-up, clipping, accumulation, resume.",
        )
    ]
