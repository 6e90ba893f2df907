# mypy: disable-error-code="empty-body"
"""The plugin API of topiclab: every hook a plugin may implement.

A plugin is any module or object with functions marked ``@hookimpl`` whose names match these
specs. Register it through the entry-point group ``topiclab`` in your ``pyproject.toml``::

    [project.entry-points.topiclab]
    my-plugin = "my_package.plugin"

A tracker, in a few lines (every lifecycle hook gets the same ``RunInfo``)::

    @hookimpl
    def topiclab_before_run(run: RunInfo) -> Links:
        my_id = start_my_run(run["topic"], run["config"])
        return {"runs": {"mytracker": my_id}, "urls": {"My tracker": f"https://t/{my_id}"}}

    @hookimpl
    def topiclab_after_run(run: RunInfo, outcome: RunOutcome) -> None:
        close_my_run(run["links"]["runs"]["mytracker"], outcome["status"])

These signatures are a public contract: they only ever gain optional arguments. A spec has no
body: pluggy calls the implementations, never the spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

import pluggy

# Annotations only: a plugin module imports this one, and loading the plugins (``topiclab
# --help``) must not import pydantic and the topic machinery.
if TYPE_CHECKING:
    from topiclab.core.specs import EstimatorSpec, TrainerSpec
    from topiclab.core.topic import StageResult, Topic

PROJECT = "topiclab"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- the arguments of the lifecycle hooks -----------------------------------------------------


class Links(TypedDict):
    """What trackers attach to a run, merged over every ``topiclab_before_run`` result.

    ``runs``: tracker name -> that tracker's run id (``{"mlflow": "3f2a..."}``);
    ``urls``: a label a person reads -> a web page (``{"MLflow run": "http://..."}``).
    The flow copies both into ``metrics.json`` (``"links"``), the Prefect artifacts and the
    index, without knowing which tracker made them. A tracker reads back only its own entries.
    """

    runs: dict[str, str]
    urls: dict[str, str]


class UpstreamRun(TypedDict):
    """A topic this run consumes the output of: its stage cache key and its run's links."""

    cache_key: str
    links: Links


class RunInfo(TypedDict):
    """One pipeline run, as every lifecycle hook sees it. Plain JSON-able values: the same
    dict travels to the stage's process (a Prefect worker, a Dask worker)."""

    topic: str
    profile: str
    config: dict[str, Any]  # the resolved config, as JSON
    versions: dict[str, str]  # library and plugin versions ("torch", "plugin.llama", ...)
    git: str  # the source revision, "+dirty" with local changes
    flow_run_id: str  # the Prefect flow run ("" outside a flow)
    links: Links  # what trackers' before_run returned (empty lists before it)
    upstream: dict[str, UpstreamRun]  # upstream topic key -> its run ({} for most topics)
    pid: int  # the process that owns the run (the flow's), to find runs left by a dead one
    host: str
    stage: NotRequired[str]  # set on calls made inside a stage (``topiclab_log_metrics``)


class RunOutcome(TypedDict):
    """How a pipeline run ended (``topiclab_after_run``)."""

    status: Literal["FINISHED", "FAILED", "KILLED"]
    seconds: float
    error: str | None  # one line, None when FINISHED
    out_dir: str
    report: NotRequired[str]  # the published report.html (FINISHED only)
    metrics_json: NotRequired[str]  # the published metrics.json (FINISHED only)
    cached_stages: NotRequired[list[str]]  # stages reused from an earlier run's cache


def empty_links() -> Links:
    return {"runs": {}, "urls": {}}


def merge_links(into: Links, more: Links | dict[str, Any] | None) -> Links:
    """Fold one tracker's ``before_run`` result into ``into`` (in place; returns it)."""
    more = more or {}
    into["runs"].update(more.get("runs") or {})
    into["urls"].update(more.get("urls") or {})
    return into


# --- registration (1:N: every plugin's lists are merged; keys must be unique) ---------------


@hookspec
def topiclab_register_topics() -> list[type[Topic]]:
    """Return the ``Topic`` subclasses this plugin provides."""


@hookspec
def topiclab_register_trainers() -> list[TrainerSpec]:
    """Return the trainers this plugin provides, each a ``TrainerSpec``."""


@hookspec
def topiclab_register_estimators() -> list[EstimatorSpec]:
    """Return the causal estimators this plugin provides, each an ``EstimatorSpec``."""


@hookspec
def topiclab_register_commands(cli: Any) -> None:
    """Add commands to the ``topiclab`` CLI: ``cli`` is its ``typer.Typer`` app.

    ``@cli.command()`` on a function makes ``topiclab <name>``. Import heavy libraries
    inside the command, not at module level: ``topiclab --help`` lists plugin commands.
    """


# --- lifecycle (1:N, called in the flow's process unless said otherwise) ------------------


@hookspec
def topiclab_preflight(topics: list[str]) -> None:
    """Before anything runs (no Prefect server, no compute): check the services this plugin
    needs and raise ``TopiclabError`` with one line if one is unreachable. Keep it under a
    few seconds (short timeouts)."""


@hookspec
def topiclab_before_run(run: RunInfo) -> Links | None:
    """A pipeline run starts. Return ``Links`` for it (your run id under ``runs``, pages
    under ``urls``); they are merged into ``run["links"]`` for every later hook."""


@hookspec
def topiclab_before_stage(run: RunInfo, stage: str) -> None:
    """A stage (``generate``, ``train``, ``evaluate`` or ``report``) is about to run; once a
    stage per run, also when a clean made the run start its stages over."""


@hookspec
def topiclab_after_stage(run: RunInfo, stage: str, result: StageResult, cached: bool) -> None:
    """A stage finished (``cached``: its result came from the cache of an earlier run); once
    a stage per run, with its final outcome. A computed stage is told when it ends, a reused
    one when the run's stages end (or fail): a pass that starts them over (a clean removed a
    stage) may yet compute it."""


@hookspec
def topiclab_on_stage_error(run: RunInfo, stage: str, error: BaseException) -> None:
    """A stage raised; the run will end as failed after this hook."""


@hookspec
def topiclab_after_run(run: RunInfo, outcome: RunOutcome) -> None:
    """A pipeline run ended, well or not (Ctrl-C included). Close your run here even when
    an earlier write of yours failed: nothing may be left RUNNING."""


@hookspec
def topiclab_log_metrics(
    run: RunInfo, metrics: dict[str, float], step: int | None, child: str | None
) -> None:
    """Metrics logged by a stage while it runs (a trainer's loss at ``step``); ``child``
    names a child run when a topic compares several methods. Called in the stage's process,
    which may be a worker other than the flow's; ``run["stage"]`` names the stage."""
