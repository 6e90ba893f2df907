"""The train stage: nothing is trained; the llama topic's model is loaded and described.

from topiclab.plugins.compression.train import train
result = train(ctx, cfg)        # data: model_hash, params (for the adjusted rate)
"""

from __future__ import annotations

from topiclab.core.topic import StageContext, StageResult
from topiclab.plugins.compression.config import CompressionConfig


def train(ctx: StageContext, cfg: CompressionConfig) -> StageResult:
    from topiclab.nn.lm_codec import model_hash
    from topiclab.plugins.compression.lm import load_model

    model = load_model(ctx.upstream["model"].path)
    params = sum(p.numel() for p in model.parameters())
    return StageResult(
        metrics={"params": params},
        data={"model_hash": model_hash(model), "params": params},
        params={"upstream_model": ctx.upstream["model"].cache_key},
    )
