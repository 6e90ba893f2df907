"""Topics whose declared dependencies are wrong (a cycle, an unknown upstream topic) or fail."""

from __future__ import annotations

from topiclab.core.hookspecs import hookimpl
from topiclab.core.topic import StageContext, StageResult, Topic


class _Never(Topic):
    def generate(self, ctx: StageContext) -> StageResult:
        raise AssertionError("must fail before anything runs")

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        raise AssertionError

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        raise AssertionError


class CycleA(_Never):
    key, title = "cycle-a", "consumes cycle-b"
    consumes = {"x": "cycle-b:model"}


class CycleB(_Never):
    key, title = "cycle-b", "consumes cycle-a"
    consumes = {"y": "cycle-a:model"}


class Orphan(_Never):
    key, title = "orphan", "consumes a topic nobody registered"
    consumes = {"model": "nosuch:model"}


class FailingProbe(_Never):
    """Stands on ``failing`` (support.failing_topic): a suite must not run it."""

    key, title = "failing-probe", "consumes the topic that fails"
    consumes = {"model": "failing:model"}


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    return [CycleA, CycleB, Orphan, FailingProbe]
