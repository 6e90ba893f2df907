"""What a finished stage puts into its MLflow run: namespaced metrics, figures, tables, the
report, registered models, and for a cached stage a pointer to the run that computed it.

    log_stage(client, run, "evaluate", result, cached=False)

Metric keys are namespaced by stage (``data/``, ``train/``, ``eval/``, ``report/``) and claims
go to ``claims/<id>``, so the UI groups its charts by section.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from topiclab.core.hookspecs import RunInfo
from topiclab.core.outputs import finite_json
from topiclab.core.topic import StageResult
from topiclab.plugins.mlflow_tracker.runs import TRACKER, experiment_name, ui_url
from topiclab.plugins.mlflow_tracker.store import tracking_uri

NAMESPACE = {"generate": "data", "train": "train", "evaluate": "eval", "report": "report"}
SOURCE_RUN = "topiclab.source_run"  # tag prefix: the run that computed a cached stage
ENV_URI = "MLFLOW_TRACKING_URI"


SECTIONS = {*NAMESPACE.values(), "claims", "run"}


def metric_key(stage: str | None, name: str) -> str:
    """``loss`` of the train stage -> ``train/loss``; ``tsls/weak`` of evaluate (one key per
    scenario) -> ``eval/tsls/weak``; a key already in a section (``eval/x``) keeps it."""
    if name.split("/", 1)[0] in SECTIONS:
        return name
    return f"{NAMESPACE.get(stage or 'train', stage)}/{name}"


def digest(result: StageResult) -> str:
    """The identity of a stage's output: equal for the run that made it and its cache hits."""
    return hashlib.sha256(result.model_dump_json().encode()).hexdigest()[:20]


def log_stage(
    client: Any, run: RunInfo, stage: str, result: StageResult, cached: bool, children: Any
) -> None:
    from mlflow.entities import Metric, RunTag

    run_id = run["links"]["runs"][TRACKER]
    now = int(time.time() * 1000)
    metrics = [Metric(metric_key(stage, k), v, now, 0) for k, v in result.metrics.items()]
    metrics += [Metric(f"claims/{c.id}", float(c.passed), now, 0) for c in result.claims]
    tags = [RunTag(f"stage.{stage}", "cached" if cached else "ran")]
    tags.append(RunTag(f"stage.{stage}.digest", digest(result)))
    if cached:
        tags += _source_tags(client, run, stage, result)
    for start in range(0, max(len(metrics), 1), 1000):  # MLflow takes 1000 metrics a batch
        chunk = metrics[start : start + 1000]
        client.log_batch(run_id, metrics=chunk, tags=[] if start else tags, synchronous=False)
    for name, values in result.children.items():
        child = children(name)
        child_metrics = [Metric(metric_key(stage, k), v, now, 0) for k, v in values.items()]
        client.log_batch(child, metrics=child_metrics, synchronous=False)
    _log_files(client, run_id, result)
    if result.models and not cached:  # a cached stage's models were logged by its source run
        log_models(run, stage, result.models)


def _source_tags(client: Any, run: RunInfo, stage: str, result: StageResult) -> list[Any]:
    """Tags naming the run that computed this (cached) stage, found by the stage's digest."""
    from mlflow.entities import RunTag

    exp = client.get_experiment_by_name(experiment_name(run["topic"]))
    found = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`stage.{stage}` = 'ran' and "
        f"tags.`stage.{stage}.digest` = '{digest(result)}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not found:
        return []
    source = found[0].info
    tags = [RunTag(f"{SOURCE_RUN}.{stage}", source.run_id)]
    if stage in ("train", "generate", "evaluate"):
        tags += [
            RunTag(SOURCE_RUN, source.run_id),
            RunTag(f"{SOURCE_RUN}.url", ui_url(exp.experiment_id, source.run_id)),
            RunTag(f"{SOURCE_RUN}.name", source.run_name or source.run_id),
        ]
    return tags


def _log_files(client: Any, run_id: str, result: StageResult) -> None:
    """Figures, tables, claims and report in one upload: the same layout as logging each
    (``figures/``, ``tables/<name>.json``, ``claims.json``, ``report.*``), but one artifact
    call and one tag write instead of several server round trips per file (``log_table``
    alone lists, reads back and re-tags the run for every table)."""
    with tempfile.TemporaryDirectory(prefix="topiclab-artifacts-") as tmp:
        root = Path(tmp)
        for path in result.figures.values():
            _copy(path, root / "figures")
        tables = _write_tables(root / "tables", result.tables)
        if result.claims:
            claims = finite_json([c.model_dump() for c in result.claims])
            (root / "claims.json").write_text(json.dumps(claims, indent=2, default=str))
        for name in ("report.html", "report.md"):
            if name in result.files:
                _copy(result.files[name], root)
        if any(root.iterdir()):
            client.log_artifacts(run_id, str(root))
    if tables:
        _tag_tables(client, run_id, tables)


def _copy(path: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, folder / Path(path).name)


def _write_tables(folder: Path, tables: dict[str, str]) -> list[str]:
    """Each CSV as MLflow's table JSON (``log_table``'s format); their artifact paths."""
    import pandas as pd

    written = []
    for name, path in tables.items():
        if Path(path).stat().st_size == 0 or len(Path(path).read_text().splitlines()) < 2:
            continue  # an empty table has nothing to show (and pandas refuses to read it)
        folder.mkdir(parents=True, exist_ok=True)
        data = pd.read_csv(path)
        data.to_json(folder / f"{name}.json", orient="split", index=False, date_format="iso")
        written.append(f"tables/{name}.json")
    return written


def _tag_tables(client: Any, run_id: str, paths: list[str]) -> None:
    """The tag by which the MLflow UI lists a run's tables (what ``log_table`` sets)."""
    from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_ARTIFACTS

    current = json.loads(client.get_run(run_id).data.tags.get(MLFLOW_LOGGED_ARTIFACTS, "[]"))
    for path in paths:
        if {"path": path, "type": "table"} not in current:
            current.append({"path": path, "type": "table"})
    client.set_tag(run_id, MLFLOW_LOGGED_ARTIFACTS, json.dumps(current))


def _example_input(module: Any) -> Any:
    """A one-row input for the module's first layer (a Linear or an Embedding), else None."""
    import torch

    for layer in module.modules():
        if isinstance(layer, torch.nn.Embedding):
            return torch.zeros(1, 8, dtype=torch.long)
        if isinstance(layer, torch.nn.Linear):
            return torch.zeros(1, layer.in_features, dtype=layer.weight.dtype)
    return None


def _signature(module: Any) -> tuple[Any, Any]:
    """``(signature, input_example)`` from one forward pass, or ``(None, None)``."""
    import torch
    from mlflow.models import infer_signature

    example = _example_input(module)
    if example is None:
        return None, None
    try:
        with torch.no_grad():
            output = module(example)
        output = output[0] if isinstance(output, tuple) else output
        numpy_in = example.numpy()
        return infer_signature(numpy_in, output.detach().numpy()), numpy_in
    except Exception:  # a module that needs more than one tensor: log it without one
        return None, None


def log_models(run: RunInfo, stage: str, models: dict[str, str]) -> None:
    """Log and register each model with a signature, an input example and a description."""
    import mlflow
    import mlflow.pytorch
    import torch

    run_id = run["links"]["runs"][TRACKER]
    client = mlflow.MlflowClient(tracking_uri())
    try:
        with _fluent_uri(tracking_uri()), mlflow.start_run(run_id=run_id):
            for name, path in models.items():
                module = torch.load(path, weights_only=False, map_location="cpu")
                signature, example = _signature(module)
                info = mlflow.pytorch.log_model(
                    module,
                    name=name,
                    registered_model_name=f"topiclab-{run['topic']}-{name}",
                    # 'pt2' (the default) traces forward() with an input example the stage
                    # may not have; the pickled form loads any module.
                    serialization_format="pickle",
                    signature=signature,
                    input_example=example,
                    pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
                )
                _describe(client, run, stage, name, info)
    finally:
        # Leaving start_run() ended the run as FINISHED; the pipeline is still running.
        client.update_run(run_id, "RUNNING")


@contextlib.contextmanager
def _fluent_uri(uri: str) -> Iterator[None]:
    """``uri`` as the tracking URI of MLflow's fluent API (``log_model`` has no client form)
    for the block only. ``mlflow.set_tracking_uri`` is process-wide and also sets
    ``MLFLOW_TRACKING_URI``: left set, it pinned every later MLflow call of the process (a
    notebook's, a test's) to this store. Both are put back as they were."""
    from mlflow.tracking._tracking_service import utils

    before, env = utils._tracking_uri, os.environ.get(ENV_URI)
    utils.set_tracking_uri(uri)
    try:
        yield
    finally:
        utils.set_tracking_uri(before)  # type: ignore[arg-type]  # None: unset, as it was
        if env is None:
            os.environ.pop(ENV_URI, None)
        else:
            os.environ[ENV_URI] = env


def _describe(client: Any, run: RunInfo, stage: str, name: str, info: Any) -> None:
    version = getattr(info, "registered_model_version", None)
    if version is None:
        return
    text = (
        f"`{name}` from the {stage} stage of topic {run['topic']} (profile {run['profile']}, "
        f"seed {run['config'].get('seed')}, git {run.get('git', '')[:12]}). "
        f"Run: {run['links']['urls'].get('MLflow run', run['links']['runs'][TRACKER])}"
    )
    client.update_model_version(f"topiclab-{run['topic']}-{name}", str(version), text)
