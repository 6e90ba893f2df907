"""The MLflow tracker: a built-in plugin on the lifecycle hooks.

One experiment per topic (``topiclab-<topic>``), one parent run per pipeline run, child runs
for the methods a topic compares. Every call names its run id explicitly: MLflow's active run
is per thread, and stages run in Prefect's worker threads (or other processes).

Tracking URI: ``MLFLOW_TRACKING_URI`` (default: SQLite under ``$TOPICLAB_HOME``); artifacts
of new experiments go to ``TOPICLAB_MLFLOW_ARTIFACTS`` (default ``$TOPICLAB_HOME/mlartifacts``)
unless a tracking server proxies them.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from topiclab.core.environment import default_artifact_root, default_tracking_uri
from topiclab.core.hookspecs import hookimpl
from topiclab.core.topic import StageResult

FLUSH_EVERY = 200  # buffered step metrics per log_batch call (one call costs ~20-30 ms on a server)
_lock = threading.Lock()
_buffers: dict[str, list[Any]] = defaultdict(list)
_children: dict[tuple[str, str], str] = {}


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def _client() -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri())


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def experiment_id(client: Any, topic: str) -> str:
    name = f"topiclab-{topic}"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if not _is_server(tracking_uri()):
        root = Path(os.environ.get("TOPICLAB_MLFLOW_ARTIFACTS", default_artifact_root()))
        location = (root / topic).resolve().as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except Exception:  # created concurrently by another process
        return str(client.get_experiment_by_name(name).experiment_id)


def ui_url(experiment: str, run_id: str) -> str:
    base = (
        tracking_uri()
        if _is_server(tracking_uri())
        else os.environ.get("TOPICLAB_MLFLOW_UI_URL", "http://127.0.0.1:5000")
    )
    return f"{base.rstrip('/')}/#/experiments/{experiment}/runs/{run_id}"


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:500]
    return out


def _child_run(client: Any, run: dict[str, Any], child: str) -> str:
    parent = run["links"]["mlflow_run_id"]
    with _lock:
        if (parent, child) not in _children:
            # Another process (a Dask worker, say) may have made it already.
            found = client.search_runs(
                [run["links"]["mlflow_experiment_id"]],
                max_results=1,
                filter_string=f"tags.mlflow.parentRunId = '{parent}' and tags.child = '{child}'",
            )
            if found:
                _children[(parent, child)] = found[0].info.run_id
                return _children[(parent, child)]
            created = client.create_run(
                run["links"]["mlflow_experiment_id"],
                run_name=child,
                tags={"mlflow.parentRunId": parent, "topic": run["topic"], "child": child},
            )
            _children[(parent, child)] = created.info.run_id
        return _children[(parent, child)]


def _flush(client: Any, run_id: str) -> None:
    with _lock:
        pending, _buffers[run_id] = _buffers[run_id], []
    for start in range(0, len(pending), 1000):  # MLflow accepts 1000 metrics per batch
        client.log_batch(run_id, metrics=pending[start : start + 1000])


@hookimpl
def topiclab_before_run(run: dict[str, Any]) -> dict[str, str]:
    client = _client()
    exp = experiment_id(client, run["topic"])
    tags = {
        "topic": run["topic"],
        "profile": run["profile"],
        "git_revision": run.get("git", ""),
        "prefect_flow_run_id": run.get("flow_run_id") or "",
        "seed": str(run["config"].get("seed")),
        **{f"version.{k}": v for k, v in run.get("versions", {}).items()},
    }
    created = client.create_run(exp, run_name=f"{run['topic']}-{run['profile']}", tags=tags)
    run_id = created.info.run_id
    params = _flatten(run["config"])
    from mlflow.entities import Param

    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), 100):
        client.log_batch(run_id, params=items[start : start + 100])
    client.log_dict(run_id, run["config"], "config.json")
    return {
        "mlflow_run_id": run_id,
        "mlflow_experiment_id": exp,
        "mlflow_url": ui_url(exp, run_id),
        "mlflow_tracking_uri": tracking_uri(),
    }


@hookimpl
def topiclab_log_metrics(
    run: dict[str, Any], metrics: dict[str, float], step: int | None, child: str | None
) -> None:
    if "mlflow_run_id" not in run.get("links", {}):
        return
    from mlflow.entities import Metric

    client = _client()
    run_id = _child_run(client, run, child) if child else run["links"]["mlflow_run_id"]
    now = int(time.time() * 1000)
    with _lock:
        _buffers[run_id] += [Metric(k, v, now, step or 0) for k, v in metrics.items()]
        full = len(_buffers[run_id]) >= FLUSH_EVERY
    if full:
        _flush(client, run_id)


def _log_result(
    client: Any, run: dict[str, Any], stage: str, result: StageResult, cached: bool
) -> None:
    from mlflow.entities import Metric, RunTag

    run_id = run["links"]["mlflow_run_id"]
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in result.metrics.items()]
    metrics += [Metric(f"claim.{c.id}", float(c.passed), now, 0) for c in result.claims]
    tags = [RunTag(f"stage.{stage}", "cached" if cached else "ran")]
    for start in range(0, max(len(metrics), 1), 1000):
        client.log_batch(
            run_id, metrics=metrics[start : start + 1000], tags=tags if not start else []
        )
    for name, values in result.children.items():
        child = _child_run(client, run, name)
        client.log_batch(child, metrics=[Metric(k, v, now, 0) for k, v in values.items()])
    for path in result.figures.values():
        client.log_artifact(run_id, path, "figures")
    for name, path in result.tables.items():
        import pandas as pd

        if Path(path).stat().st_size == 0 or len(Path(path).read_text().splitlines()) < 2:
            continue  # an empty table has nothing to show (and pandas refuses to read it)
        client.log_table(run_id, pd.read_csv(path), f"tables/{name}.json")
    if result.claims:
        client.log_dict(run_id, [c.model_dump() for c in result.claims], "claims.json")
    for name in ("report.html", "report.md"):
        if name in result.files:
            client.log_artifact(run_id, result.files[name])
    if (
        result.models and not cached
    ):  # a cached stage's models were logged by the run that made them
        _log_models(run, result.models)


def _log_models(run: dict[str, Any], models: dict[str, str]) -> None:
    import mlflow
    import mlflow.pytorch
    import torch

    mlflow.set_tracking_uri(tracking_uri())
    with mlflow.start_run(run_id=run["links"]["mlflow_run_id"]):
        for name, path in models.items():
            module = torch.load(path, weights_only=False, map_location="cpu")
            mlflow.pytorch.log_model(
                module,
                name=name,
                registered_model_name=f"topiclab-{run['topic']}-{name}",
                # 'pt2' (the default) traces forward() and needs an input example; a stage
                # hands over only the module, so keep the classic pickled form.
                serialization_format="pickle",
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            )
    # Leaving start_run() ended the run as FINISHED; the pipeline is still running.
    mlflow.MlflowClient(tracking_uri()).update_run(run["links"]["mlflow_run_id"], "RUNNING")


@hookimpl
def topiclab_after_stage(
    run: dict[str, Any], stage: str, result: StageResult, cached: bool
) -> None:
    if "mlflow_run_id" not in run.get("links", {}):
        return
    client = _client()
    parent = run["links"]["mlflow_run_id"]
    with _lock:
        children = [rid for key, rid in _children.items() if key[0] == parent]
    for run_id in [parent, *children]:
        _flush(client, run_id)
    _log_result(client, run, stage, result, cached)


@hookimpl
def topiclab_on_stage_error(run: dict[str, Any], stage: str, error: BaseException) -> None:
    if "mlflow_run_id" in run.get("links", {}):
        message = f"{type(error).__name__}: {error}".splitlines()[0][:500]
        _client().set_tag(run["links"]["mlflow_run_id"], "error", f"{stage}: {message}")


@hookimpl
def topiclab_after_run(run: dict[str, Any], outcome: dict[str, Any]) -> None:
    if "mlflow_run_id" not in run.get("links", {}):
        return
    client = _client()
    parent = run["links"]["mlflow_run_id"]
    status = outcome.get("status", "FINISHED")
    with _lock:
        children = [rid for key, rid in _children.items() if key[0] == parent]
        for key in [key for key in _children if key[0] == parent]:
            del _children[key]
    for run_id in [parent, *children]:
        _flush(client, run_id)
    client.log_metric(parent, "run_seconds", float(outcome.get("seconds", 0.0)))
    if outcome.get("metrics_json"):
        client.log_artifact(parent, outcome["metrics_json"])
    for run_id in children:
        client.set_terminated(run_id, status)
    client.set_terminated(parent, status)
