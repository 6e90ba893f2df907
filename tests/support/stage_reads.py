"""Two small topics that declare what their stages read (``Topic.reads``), so tests can see
which stages a config change recomputes: ``counted`` counts its trainings; ``sneaky``'s train
stage reads an evaluation option it does not declare; ``counted-probe`` consumes ``counted``'s
trained mean (its train stage counts too).

    TOPICLAB_PLUGINS=support.stage_reads      then read ``support.stage_reads.TRAINED``
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from support.downstream_topic import ProbeConfig  # the same scale option
from topiclab.core.config import ExecutionOption
from topiclab.core.hookspecs import hookimpl
from topiclab.core.topic import (
    Claim,
    ConfigSection,
    StageContext,
    StageResult,
    Topic,
    TopicConfig,
)

#: One entry per train stage computed in this process: (topic, steps).
TRAINED: list[tuple[str, int]] = []


class DataOptions(ConfigSection):
    n: int = Field(200, ge=10)


class TrainOptions(ConfigSection):
    steps: int = Field(50, ge=1)
    lr: float = Field(0.1, gt=0)


class EvalOptions(ConfigSection):
    test_share: float = Field(0.5, gt=0, lt=1)


class CountedConfig(TopicConfig):
    data: DataOptions = Field(default_factory=DataOptions)
    train: TrainOptions = Field(default_factory=TrainOptions)
    eval: EvalOptions = Field(default_factory=EvalOptions)
    # How a stage would run, not what it computes: in no stage's cache key.
    workers: Annotated[int, ExecutionOption()] = Field(1, ge=1)


class Counted(Topic):
    """Fit the mean of noisy data by gradient descent; evaluate on a share of it."""

    key = "counted"
    title = "Counted: a mean fitted by gradient descent"
    Config = CountedConfig
    reads = {"generate": ("data",), "train": ("train",)}

    def generate(self, ctx: StageContext) -> StageResult:
        cfg = ctx.cfg(CountedConfig)
        path = ctx.path("data.npy")
        np.save(path, np.random.default_rng(ctx.seed).normal(3.0, 1.0, cfg.data.n))
        return StageResult(files={"data": str(path)})

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        steps = self.train_steps(ctx)
        TRAINED.append((self.key, steps))
        x, mu = np.load(data.files["data"]), 0.0
        for _ in range(steps):
            mu -= ctx.cfg(CountedConfig).train.lr * 2 * (mu - x.mean())
        path = ctx.path("mu.npy")
        np.save(path, np.array([mu]))
        return StageResult(files={"mu": str(path)})

    def train_steps(self, ctx: StageContext) -> int:
        return ctx.cfg(CountedConfig).train.steps

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        x, mu = np.load(data.files["data"]), float(np.load(trained.files["mu"])[0])
        test = x[: int(len(x) * ctx.cfg(CountedConfig).eval.test_share)]
        mse = float(np.mean((test - mu) ** 2))
        claim = Claim(
            id="fits-the-mean",
            statement="Gradient descent finds the mean",
            value=mse,
            anchor="< 2",
            passed=mse < 2,
            uses=["mse"],
        )
        return StageResult(metrics={"mse": mse, "mu": mu}, claims=[claim])


class Sneaky(Counted):
    """Its train stage reads ``eval.test_share`` without declaring it."""

    key = "sneaky"
    title = "Sneaky: train reads an evaluation option"

    def train_steps(self, ctx: StageContext) -> int:
        return int(ctx.cfg(CountedConfig).train.steps * ctx.cfg(CountedConfig).eval.test_share)


class CountedProbe(Topic):
    """Scales ``counted``'s trained mean: it consumes the upstream's train stage only."""

    key = "counted-probe"
    title = "Counted probe: reads the counted topic's trained mean"
    Config = ProbeConfig
    consumes = {"mu": "counted:mu"}  # made by counted's train stage (the default)

    def generate(self, ctx: StageContext) -> StageResult:
        return StageResult(data={"mu": ctx.upstream["mu"].model_dump()})

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        TRAINED.append((self.key, 0))
        scaled = float(np.load(ctx.upstream["mu"].path)[0]) * ctx.cfg(ProbeConfig).scale
        return StageResult(metrics={"scaled": scaled})

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        return StageResult(metrics=dict(trained.metrics))


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    return [Counted, Sneaky, CountedProbe]
