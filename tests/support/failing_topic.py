"""A topic whose train stage raises: the suite must isolate it."""

from __future__ import annotations

from topiclab.core.hookspecs import hookimpl
from topiclab.core.topic import StageContext, StageResult, Topic


class FailingTopic(Topic):
    key = "failing"
    title = "A topic that fails in train"

    def generate(self, ctx: StageContext) -> StageResult:
        return StageResult(metrics={"rows": 1.0})

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        raise RuntimeError("train failed on purpose")

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        return StageResult()


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    return [FailingTopic]
