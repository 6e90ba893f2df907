# mypy: disable-error-code="empty-body"
"""The plugin API of topiclab: every hook a plugin may implement.

A plugin is any module or object with functions marked ``@hookimpl`` whose names match these
specs. Register it through the entry-point group ``topiclab`` in your ``pyproject.toml``::

    [project.entry-points.topiclab]
    my-plugin = "my_package.plugin"

These signatures are a public contract: they only ever gain optional arguments. A spec has no
body: pluggy calls the implementations, never the spec.
"""

from __future__ import annotations

from typing import Any

import pluggy

from topiclab.core.specs import EstimatorSpec, TrainerSpec
from topiclab.core.topic import StageResult, Topic

PROJECT = "topiclab"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


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


# --- lifecycle (1:N, called in the flow's process; ``run`` is a plain dict, see RunInfo) -----


@hookspec
def topiclab_before_run(run: dict[str, Any]) -> dict[str, str] | None:
    """A pipeline run starts. Return links/ids to attach to the run (e.g. a tracking run id).

    ``run`` holds ``topic``, ``profile``, ``config`` (the resolved dict), ``versions``
    (plugin and library versions), ``git``, ``flow_run_id`` and ``links`` (what earlier
    ``before_run`` results returned).
    """


@hookspec
def topiclab_before_stage(run: dict[str, Any], stage: str) -> None:
    """A stage (``generate``, ``train``, ``evaluate`` or ``report``) is about to run."""


@hookspec
def topiclab_after_stage(
    run: dict[str, Any], stage: str, result: StageResult, cached: bool
) -> None:
    """A stage finished (``cached``: its result came from the cache of an earlier run)."""


@hookspec
def topiclab_on_stage_error(run: dict[str, Any], stage: str, error: BaseException) -> None:
    """A stage raised; the run will end as failed after this hook."""


@hookspec
def topiclab_after_run(run: dict[str, Any], outcome: dict[str, Any]) -> None:
    """A pipeline run ended. ``outcome``: ``status`` ("FINISHED"/"FAILED"), ``seconds``,
    ``error`` (a one-line message or None), ``out_dir`` and ``report`` paths."""


@hookspec
def topiclab_log_metrics(
    run: dict[str, Any], metrics: dict[str, float], step: int | None, child: str | None
) -> None:
    """Metrics logged by a stage while it runs (a trainer's loss at ``step``); ``child``
    names a child run when a topic compares several methods. Called in the stage's process."""
