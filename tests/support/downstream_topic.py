"""A topic that consumes the example plugin's ``ridge`` weights, and a tracker that hands out
links, so tests can see which upstream run a downstream run names.

    TOPICLAB_PLUGINS=support.downstream_topic
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from pydantic import Field

from topiclab.core.hookspecs import hookimpl
from topiclab.core.topic import Claim, StageContext, StageResult, Topic, TopicConfig

#: (topic, link) of every run started in this process, in order.
RUNS: list[tuple[str, str]] = []


class ProbeConfig(TopicConfig):
    scale: float = Field(2.0, gt=0)


class RidgeProbe(Topic):
    key = "ridge-probe"
    title = "Probe: reads the ridge topic's trained weights"
    Config = ProbeConfig
    consumes = {"weights": "ridge:weights"}

    def generate(self, ctx: StageContext) -> StageResult:
        weights = ctx.upstream["weights"]
        assert weights.verify() is None
        return StageResult(data={"weights": weights.model_dump()})

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        w = np.load(ctx.upstream["weights"].path)
        path = ctx.path("scaled.npy")
        np.save(path, w * ctx.config.scale)  # type: ignore[attr-defined]
        return StageResult(files={"scaled": str(path)})

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        total = float(np.load(trained.files["scaled"]).sum())
        return StageResult(
            metrics={"scaled_weight_sum": total},
            claims=[
                Claim(
                    id="got-weights",
                    statement="The upstream weights arrived",
                    value=total,
                    anchor="finite",
                    passed=bool(np.isfinite(total)),
                )
            ],
        )


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    return [RidgeProbe]


@hookimpl
def topiclab_before_run(run: dict[str, Any]) -> dict[str, Any]:
    link = f"{run['topic']}-{uuid.uuid4().hex[:8]}"
    RUNS.append((run["topic"], link))
    return {"runs": {"probe": link}, "urls": {}}
