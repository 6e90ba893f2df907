"""The topic contract: config, stage context, stage results and claims.

A topic is a class with a key, a title, a pydantic config with profiles, and four stages::

    generate(ctx) -> StageResult
    train(ctx, data) -> StageResult
    evaluate(ctx, data, trained) -> StageResult     # metrics, figures, tables and claims
    report(ctx, data, trained, evaluation) -> StageResult   # default: core.report renders it

Stages hand each other ``StageResult`` manifests: small, picklable, JSON-able records of paths
and numbers, never live models, so Prefect can persist and cache them between runs. A stage
reads its config typed as the topic's class::

    cfg = ctx.cfg(MyConfig)          # MyConfig, or a TypeError naming both classes

A stage's cache key covers the config fields it declares in ``Topic.reads`` (default: all);
its ``ctx.config`` refuses to read any other (``core.reads``).

A claim names the metrics its verdict reads (``uses``); a metric that is NaN or infinite fails
every claim that uses it, whatever its comparison says (NaN compares False, inf passes ``>``).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

if TYPE_CHECKING:
    from topiclab.core.manifest import UpstreamOutput
    from topiclab.core.registry import Registry

PROFILES: tuple[str, ...] = ("quick", "standard", "full")
STAGES: tuple[str, ...] = ("generate", "train", "evaluate", "report")


# np.random.seed takes < 2**32 and each stage reseeds with seed + its index: stay well below.
MAX_SEED = 2**31 - 1


class TopicConfig(BaseModel):
    """Base of every topic's config: unknown keys are errors, assignments are validated, and a
    float must be finite (``lr=Infinity`` or ``NaN`` is refused before anything runs)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    # Strict: ``seed=true`` is refused rather than read as 1.
    seed: StrictInt = Field(
        0, ge=0, le=MAX_SEED, description="Seed for every random number generator of the run."
    )


class ConfigSection(BaseModel):
    """A nested table of a topic's config (``[train]``, ``[icp]``): unknown keys are errors,
    values strict (``true`` is not 1, ``"3"`` is not 3; an int is a valid float) and finite."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class FieldError(ValueError):
    """Raised by a check across fields to name the key at fault (a dotted path from the model
    that runs the check), where pydantic would name only the model::

        raise FieldError("eval.prompts.0", "70 bytes, longer than model.seq_len (64)")
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _refuse_repeats(values: list[Any]) -> list[Any]:
    repeated = [v for i, v in enumerate(values) if v in values[:i]]
    if repeated:
        shown = ", ".join(dict.fromkeys(repr(v) for v in repeated))
        raise ValueError(f"{shown} listed more than once")
    return values


# A list whose entries must differ (a repeat would be computed twice and counted twice in a
# mean): ``plays: Annotated[list[str], Distinct] = ...``
Distinct = AfterValidator(_refuse_repeats)


def non_finite(values: Mapping[str, Any], keys: list[str] | None = None) -> list[str]:
    """The keys (all, or ``keys``) whose value is a float that is NaN or infinite."""
    names = list(values) if keys is None else keys
    return [k for k in names if isinstance(values.get(k), float) and not math.isfinite(values[k])]


class Claim(BaseModel):
    """One statement of the post or its papers, and whether this run confirmed it."""

    id: str
    statement: str
    value: float | str
    anchor: str = Field(description="What the value is compared with, e.g. '<= 2.3 bits/char'.")
    source: str = Field("", description="Where the anchor comes from: paper and table, formula.")
    passed: bool
    uses: list[str] = Field(
        default_factory=list,
        description="metric keys the verdict reads: one that is not finite fails the claim",
    )
    note: str = Field(default="", description="why a verdict was overruled (a metric not finite)")
    expected_in: list[str] = Field(
        default_factory=lambda: list(PROFILES),
        description="profiles whose sizes should confirm the claim; a claim that needs "
        "Monte-Carlo repetitions or training (standard, full) is not expected of quick",
    )

    @model_validator(mode="after")
    def _finite_value(self) -> Claim:
        unknown = sorted(set(self.expected_in) - set(PROFILES))
        if unknown:
            raise ValueError(f"claim '{self.id}': expected_in names no profile: {unknown}")
        if isinstance(self.value, float) and not math.isfinite(self.value):
            self._fail(f"value is {self.value}")
        return self

    def _fail(self, why: str) -> None:
        self.passed = False
        self.note = why


def verdict(claim: Claim, profile: str) -> str:
    """``PASS``, ``FAIL``, or ``not expected`` for a claim that failed in a profile too small
    for it (quick checks the code paths, not the papers' numbers)."""
    if claim.passed:
        return "PASS"
    return "FAIL" if profile in claim.expected_in else "not expected"


def check_claims(claims: list[Claim], metrics: Mapping[str, float]) -> list[Claim]:
    """Fail every claim that uses a metric that is NaN or infinite; an unknown name in ``uses``
    is a bug in the topic and raises. Returns ``claims`` (changed in place)."""
    for claim in claims:
        missing = [k for k in claim.uses if k not in metrics]
        if missing:
            raise ValueError(f"claim '{claim.id}' uses metrics that were not measured: {missing}")
        bad = non_finite(metrics, claim.uses)
        if bad:
            claim._fail(", ".join(f"{k} is {metrics[k]}" for k in bad))
    return claims


class StageResult(BaseModel):
    """The manifest a stage returns. Paths are absolute; values are JSON-able."""

    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] = Field(
        default_factory=dict, description="named outputs for later stages"
    )
    figures: dict[str, str] = Field(default_factory=dict, description="name -> PNG path")
    captions: dict[str, str] = Field(
        default_factory=dict, description="figure name -> the sentence the report shows under it"
    )
    tables: dict[str, str] = Field(default_factory=dict, description="name -> CSV path")
    models: dict[str, str] = Field(
        default_factory=dict, description="name -> path of a torch.save'd nn.Module to log"
    )
    claims: list[Claim] = Field(default_factory=list)
    sections: dict[str, str] = Field(
        default_factory=dict, description="report section title -> Markdown body"
    )
    children: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="child run name -> its metrics (one per method compared)"
    )
    data: dict[str, Any] = Field(default_factory=dict, description="small values for later stages")

    @model_validator(mode="after")
    def _claims_need_finite_metrics(self) -> StageResult:
        check_claims(self.claims, self.metrics)
        return self


C = TypeVar("C", bound=TopicConfig)
MetricsSink = Callable[[dict[str, float], int | None, str | None], None]


class Progress:
    """What a trainer calls each step: advances the bar and logs metrics with the step."""

    def __init__(
        self, advance: Callable[[int, dict[str, float]], None], sink: MetricsSink, child: str | None
    ) -> None:
        self._advance, self._sink, self._child = advance, sink, child

    def __call__(self, step: int, **metrics: float) -> None:
        values = {k: float(v) for k, v in metrics.items()}
        self._advance(step, values)
        if values:
            self._sink(values, step, self._child)


@dataclass
class StageContext:
    """Everything a stage may use: its config, its own folder, the registry, and logging."""

    topic: str
    profile: str
    config: TopicConfig
    workdir: Path
    stage: str
    registry_factory: Callable[[], Registry] = field(repr=False)
    metrics_sink: MetricsSink = field(default=lambda m, s, c: None, repr=False)
    progress_factory: Callable[[str, int], Any] | None = field(default=None, repr=False)
    #: What this topic ``consumes`` from other topics, by local name (see ``Topic.consumes``).
    upstream: dict[str, UpstreamOutput] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.config.seed

    def cfg(self, cls: type[C]) -> C:
        """The config typed as the topic's class: ``cfg = ctx.cfg(LlamaConfig)``."""
        if not isinstance(self.config, cls):
            raise TypeError(
                f"stage '{self.stage}' of topic '{self.topic}' has a "
                f"{type(self.config).__name__}, not a {cls.__name__}"
            )
        return self.config

    @property
    def registry(self) -> Registry:
        return self.registry_factory()

    def path(self, name: str) -> Path:
        """A file path inside this stage's folder (parents created)."""
        p = self.workdir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_table(self, name: str, rows: list[dict[str, Any]]) -> str:
        """Write ``rows`` (dicts with the same keys) as a CSV in this stage's folder; return
        its path, ready for ``StageResult.tables`` or ``files``."""
        import csv

        path = self.path(name)
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else [])
            writer.writeheader()
            writer.writerows(rows)
        return str(path)

    def log_metrics(
        self, metrics: dict[str, float], step: int | None = None, child: str | None = None
    ) -> None:
        """Log metrics (with a step) to every tracker; ``child`` names a child run."""
        self.metrics_sink({k: float(v) for k, v in metrics.items()}, step, child)

    @contextmanager
    def progress(
        self, description: str, total: int, child: str | None = None
    ) -> Iterator[Progress]:
        """A progress bar for a loop of ``total`` steps; call the yielded object each step."""
        if self.progress_factory is None:
            yield Progress(lambda step, metrics: None, self.metrics_sink, child)
            return
        with self.progress_factory(description, total) as advance:
            yield Progress(advance, self.metrics_sink, child)


class Topic(abc.ABC):
    """Subclass this, fill in the class attributes and the three stages, register it."""

    key: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str] = ""
    Config: ClassVar[type[TopicConfig]] = TopicConfig
    #: Nested overrides of ``Config``'s defaults per profile; the defaults are ``standard``.
    profiles: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Outputs of other topics this one needs: local name -> ``"topic:output"``, where
    #: ``output`` names a ``files``/``models`` entry of that topic's stages. The flow runs or
    #: reuses that topic first and hands the output over as ``ctx.upstream[name]``. This
    #: topic's keys cover the key of the upstream stage that makes it: ``train`` (or an
    #: earlier stage), unless named: ``"topic:stage:output"`` (``core.dag``).
    consumes: ClassVar[dict[str, str]] = {}
    #: The config fields each stage reads, as dotted paths: ``{"train": ("model", "train")}``.
    #: A stage's cache key covers only these (and the previous stage's key), so changing an
    #: option that only later stages read reuses it; reading any other field raises
    #: ``core.reads.UndeclaredRead``. A stage not named here reads the whole config (leave
    #: ``report`` out while it is the default one: the report shows the whole config).
    reads: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: Distributions besides numpy, scipy, scikit-learn and torch whose version can change
    #: what the stages compute (``("gymnasium",)``): their versions are in every stage key.
    libraries: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check_upstream(cls, config: TopicConfig, upstream: Mapping[str, Mapping[str, Any]]) -> None:
        """Refuse, before anything runs, a config of a topic this one ``consumes`` that its
        stages cannot use (``upstream``: each consumed topic's resolved config as JSON, by
        key; ``config``: this topic's). Raise ``FieldError`` naming the key as ``--set``
        spells it: ``FieldError("llama:tokenizer.kind", "rl-llm needs ... (byte)")``. Without
        it the upstream topic is trained first and the refusal comes after. Default: none."""
        return None

    @abc.abstractmethod
    def generate(self, ctx: StageContext) -> StageResult:
        """Make or load the data; write it under ``ctx.workdir``; return its paths."""

    @abc.abstractmethod
    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        """Fit the models (or estimators); save them under ``ctx.workdir``."""

    @abc.abstractmethod
    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        """Measure: metrics, figures, tables and the claims with their verdicts."""

    def report(
        self, ctx: StageContext, data: StageResult, trained: StageResult, evaluation: StageResult
    ) -> StageResult:
        """Render the HTML and Markdown report. Override to add to it."""
        from topiclab.core.report import render_topic_report

        return render_topic_report(self, ctx, data, trained, evaluation)
