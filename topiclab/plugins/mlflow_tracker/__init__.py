"""The MLflow tracker: a built-in plugin on the lifecycle hooks.

One experiment per topic (``topiclab-<topic>``), one parent run per pipeline run, child runs
for the methods a topic compares. Every call names its run id explicitly: MLflow's active run
is per thread, and stages run in Prefect's worker threads (or other processes). Metrics go
through MLflow's asynchronous logging and are flushed before the run is closed.

Its run id travels as ``run["links"]["runs"]["mlflow"]``; its page as
``run["links"]["urls"]["MLflow run"]``. Nothing outside this package knows either name.

Tracking URI: ``MLFLOW_TRACKING_URI`` (default: SQLite under ``$TOPICLAB_HOME``); artifacts
of new experiments go to ``TOPICLAB_MLFLOW_ARTIFACTS`` (default ``$TOPICLAB_HOME/mlartifacts``)
unless a tracking server proxies them. Modules: ``store`` (URI, setup under a lock,
preflight, retries), ``owners`` (PID/host tags, closing runs of dead owners), ``runs``
(experiment, name, tags, description, lineage), ``results`` (what a stage logs).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from topiclab.core.hookspecs import Links, RunInfo, RunOutcome, hookimpl
from topiclab.core.secrets import redact
from topiclab.plugins.mlflow_tracker import owners, runs, store

if TYPE_CHECKING:
    from topiclab.core.topic import StageResult

log = logging.getLogger(__name__)
_lock = threading.Lock()
_children: dict[tuple[str, str], str] = {}


def _own_run(run: RunInfo) -> str | None:
    return run.get("links", {}).get("runs", {}).get(runs.TRACKER)


def _child_run(client: Any, run: RunInfo, child: str) -> str:
    parent = _own_run(run) or ""
    with _lock:
        if (parent, child) not in _children:
            exp = client.get_run(parent).info.experiment_id
            # Another process (a Dask worker, say) may have made it already.
            found = client.search_runs(
                [exp],
                max_results=1,
                filter_string=f"tags.mlflow.parentRunId = '{parent}' and tags.child = '{child}'",
            )
            if found:
                _children[(parent, child)] = found[0].info.run_id
            else:
                tags = {"mlflow.parentRunId": parent, "topic": run["topic"], "child": child}
                tags.update(owners.owner_tags(run.get("pid"), run.get("host")))
                created = client.create_run(exp, run_name=child, tags=tags)
                _children[(parent, child)] = created.info.run_id
        return _children[(parent, child)]


@hookimpl
def topiclab_preflight(topics: list[str]) -> None:
    store.preflight()


@hookimpl
def topiclab_before_run(run: RunInfo) -> Links:
    from mlflow.entities import Param

    store.preflight()  # runs started without the CLI (the Prefect UI) fail fast too
    client = store.client()
    exp = runs.experiment_id(client, run["topic"])
    ours = client.search_experiments(filter_string="name LIKE 'topiclab-%'")
    owners.close_dead_runs(client, [e.experiment_id for e in ours], run["host"])
    tags = {**runs.run_tags(run), **runs.lineage_tags(client, run)}
    run_id = client.create_run(exp, run_name=runs.run_name(run), tags=tags).info.run_id
    params = [Param(k, v) for k, v in _flatten(run["config"]).items()]
    for start in range(0, len(params), 100):
        client.log_batch(run_id, params=params[start : start + 100], synchronous=False)
    client.log_dict(run_id, run["config"], "config.json")
    return {"runs": {runs.TRACKER: run_id}, "urls": {"MLflow run": runs.ui_url(exp, run_id)}}


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = redact(str(value))[:500]  # a config value may name a secret
    return out


@hookimpl
def topiclab_log_metrics(
    run: RunInfo, metrics: dict[str, float], step: int | None, child: str | None
) -> None:
    if not _own_run(run):
        return
    from mlflow.entities import Metric

    from topiclab.plugins.mlflow_tracker import results

    client = store.client()
    run_id = _child_run(client, run, child) if child else _own_run(run)
    now = int(time.time() * 1000)
    stage = run.get("stage")
    batch = [Metric(results.metric_key(stage, k), v, now, step or 0) for k, v in metrics.items()]
    # Queued in the flow's process and flushed by after_run. A worker process (a process
    # pool, Dask) may end by os._exit, which skips MLflow's exit-time flush: write at once.
    in_flow = run.get("pid") == os.getpid() and run.get("host") == socket.gethostname()
    client.log_batch(run_id, metrics=batch, synchronous=not in_flow)


@hookimpl
def topiclab_after_stage(run: RunInfo, stage: str, result: StageResult, cached: bool) -> None:
    if not _own_run(run):
        return
    # Imported here: it brings the topic machinery (pydantic), and loading the plugin
    # (``topiclab --help``) must not.
    from topiclab.plugins.mlflow_tracker import results

    client = store.client()
    results.log_stage(
        client, run, stage, result, cached, lambda name: _child_run(client, run, name)
    )


@hookimpl
def topiclab_on_stage_error(run: RunInfo, stage: str, error: BaseException) -> None:
    run_id = _own_run(run)
    if not run_id:
        return
    message = f"{type(error).__name__}: {error}".splitlines()[0][:500]
    try:  # never hide the stage's own error behind a tracking one
        store.retry(lambda: store.client().set_tag(run_id, "error", f"{stage}: {message}"))
    except Exception as exc:
        log.warning("MLflow: could not tag run %s with its error: %s", run_id, exc)


@hookimpl
def topiclab_after_run(run: RunInfo, outcome: RunOutcome) -> None:
    """Close the run and its children, whatever failed before: each write is tried on its
    own (with retries for a locked database), and the status is always set."""
    parent = _own_run(run)
    if not parent:
        return
    client = store.client()
    with _lock:
        children = [rid for key, rid in _children.items() if key[0] == parent]
        for key in [key for key in _children if key[0] == parent]:
            del _children[key]
    for name, write in _final_writes(client, run, parent, outcome):
        try:
            store.retry(write)
        except Exception as exc:  # a failed write must not leave the run RUNNING
            log.warning("MLflow: %s failed for run %s: %s", name, parent, exc)
    for run_id in [*children, parent]:
        try:
            _terminate(client, run_id, outcome["status"])
        except Exception as exc:  # the next start closes it (its owner will be dead)
            log.warning("MLflow: could not close run %s: %s", run_id, exc)


def _terminate(client: Any, run_id: str, status: str) -> None:
    store.retry(lambda: client.set_terminated(run_id, status))


def _final_writes(client: Any, run: RunInfo, parent: str, outcome: RunOutcome) -> list[Any]:
    def metrics_json() -> None:
        if outcome.get("metrics_json"):
            client.log_artifact(parent, outcome["metrics_json"])

    def describe() -> None:
        claims = []
        if outcome.get("metrics_json") and Path(outcome["metrics_json"]).is_file():
            claims = json.loads(Path(outcome["metrics_json"]).read_text()).get("claims", [])
        text = runs.note(run, dict(outcome), claims)
        from topiclab.plugins.mlflow_tracker.results import SOURCE_RUN

        source = client.get_run(parent).data.tags.get(f"{SOURCE_RUN}.url")
        if source:
            text += f"\n\nCached: the stages were computed by [this run]({source})."
        client.set_tag(parent, "mlflow.note.content", text)

    return [
        ("flush", lambda: store.flush(client)),
        ("run seconds", lambda: client.log_metric(parent, "run/seconds", outcome["seconds"])),
        ("metrics.json", metrics_json),
        ("description", describe),
    ]
