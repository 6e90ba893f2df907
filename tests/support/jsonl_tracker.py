"""A second tracker, written as a third party would: every lifecycle event as one JSON line.

    TOPICLAB_PLUGINS=support.jsonl_tracker TOPICLAB_JSONL_TRACKER=events.jsonl topiclab run ...

It returns its own run id and a file URL as generic ``Links``, and reads back only its own.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from topiclab.core.hookspecs import Links, RunInfo, RunOutcome, hookimpl
from topiclab.core.topic import StageResult

NAME = "jsonl"


def _write(run: RunInfo, event: str, **fields: Any) -> None:
    path = Path(os.environ.get("TOPICLAB_JSONL_TRACKER", "jsonl-tracker.jsonl"))
    line = {"event": event, "run": run["links"]["runs"].get(NAME), "topic": run["topic"]}
    with path.open("a") as handle:
        handle.write(json.dumps({**line, **fields}, default=str) + "\n")


@hookimpl
def topiclab_before_run(run: RunInfo) -> Links:
    run_id = uuid.uuid4().hex
    _write({**run, "links": {"runs": {NAME: run_id}, "urls": {}}}, "before_run", pid=run["pid"])
    return {"runs": {NAME: run_id}, "urls": {"JSONL log": f"file://{run_id}"}}


@hookimpl
def topiclab_before_stage(run: RunInfo, stage: str) -> None:
    _write(run, "before_stage", stage=stage)


@hookimpl
def topiclab_after_stage(run: RunInfo, stage: str, result: StageResult, cached: bool) -> None:
    _write(run, "after_stage", stage=stage, cached=cached, metrics=result.metrics)


@hookimpl
def topiclab_on_stage_error(run: RunInfo, stage: str, error: BaseException) -> None:
    _write(run, "on_stage_error", stage=stage, error=str(error))


@hookimpl
def topiclab_after_run(run: RunInfo, outcome: RunOutcome) -> None:
    _write(run, "after_run", status=outcome["status"], links=run["links"])


@hookimpl
def topiclab_log_metrics(
    run: RunInfo, metrics: dict[str, float], step: int | None, child: str | None
) -> None:
    _write(run, "log_metrics", stage=run.get("stage"), step=step, child=child, metrics=metrics)
