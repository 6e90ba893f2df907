"""Topic ``compression``: LLMs as compressors (the llama topic's model + arithmetic coding).

    TOPICLAB_PLUGINS=topiclab.plugins.compression topiclab run compression --profile quick

generate: held-out plays as bytes, checked against the llama topic's held-out text (data.py).
train:    nothing is trained: the llama topic's model (through the DAG) is loaded, hashed and
          counted (train.py).
evaluate: classical compressors, order-k context models and the LM on every play, whole and in
          2048-byte chunks, each stream decoded and compared (evaluate.py); claims.py, figures.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

from topiclab.core.topic import StageContext, StageResult, Topic, TopicConfig
from topiclab.plugins.compression import data as _data
from topiclab.plugins.compression import evaluate as _evaluate
from topiclab.plugins.compression import train as _train
from topiclab.plugins.compression.config import PROFILES, CompressionConfig, check_llama


class CompressionTopic(Topic):
    key = "compression"
    title = "LLMs as compressors"
    summary = (
        "A language model plus arithmetic coding is a lossless compressor: the llama topic's "
        "model, coded with our integer range coder, against gzip, bz2, xz, zstd, brotli, PPMd "
        "and order-k context models on held-out plays, as Delétang et al. (2023) measure."
    )
    Config = CompressionConfig
    profiles = PROFILES
    # llama's trained model and the text its generate stage held out: an llama evaluation
    # option recomputes nothing here (core.dag).
    consumes: ClassVar[dict[str, str]] = {
        "model": "llama:train:model",
        "held_out": "llama:generate:val_text",
    }

    @classmethod
    def check_upstream(cls, config: TopicConfig, upstream: Mapping[str, Mapping[str, Any]]) -> None:
        check_llama(cast(CompressionConfig, config), upstream["llama"])

    def generate(self, ctx: StageContext) -> StageResult:
        return _data.generate(ctx, ctx.cfg(CompressionConfig))

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        return _train.train(ctx, ctx.cfg(CompressionConfig))

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        return _evaluate.evaluate(ctx, ctx.cfg(CompressionConfig), data, trained)
