"""The MLflow experiment and run of a pipeline run, shaped the way the MLflow UI reads them.

    exp = experiment_id(client, "ridge")       # "topiclab-ridge", typed for model training
    name = run_name(run)                        # "ridge-quick-seed11-20261129-064107"
    tags = run_tags(run)                        # topic, seed, versions, owner, source, lineage
    url = ui_url(exp, run_id)                   # opens the run in "Model training" mode

MLflow 3.17's UI shows an experiment as GenAI or as model training after a global toggle (or
``?workflowType=`` in the link), not after the ``mlflow.experimentKind`` tag alone; links
therefore carry ``workflowType=machine_learning``, and the tag is set too for UIs that read it.
"""

from __future__ import annotations

import getpass
import os
import time
from pathlib import Path
from typing import Any

from topiclab.core.cells import claim_counts
from topiclab.core.environment import default_artifact_root
from topiclab.core.hookspecs import RunInfo
from topiclab.core.secrets import public_url, redact
from topiclab.core.uis import mlflow_ui_base
from topiclab.plugins.mlflow_tracker.owners import owner_tags
from topiclab.plugins.mlflow_tracker.store import is_server, tracking_uri

TRACKER = "mlflow"  # our key in run["links"]["runs"]
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def experiment_name(topic: str) -> str:
    return f"topiclab-{topic}"


def experiment_tags(topic: str) -> dict[str, str]:
    """The kind, and the description the experiments list shows: the topic's title and
    summary (``-`` without them)."""
    from topiclab.core.registry import get_registry

    cls = get_registry().topics.get(topic)
    if cls is None:
        return dict(EXPERIMENT_KIND)
    return {**EXPERIMENT_KIND, "mlflow.note.content": f"{cls.title}\n\n{cls.summary}"}


def experiment_id(client: Any, topic: str) -> str:
    name = experiment_name(topic)
    tags = experiment_tags(topic)
    found = client.get_experiment_by_name(name)
    if found is not None:
        for key, value in tags.items():  # made before experiments were typed or described
            if key not in found.tags:
                client.set_experiment_tag(found.experiment_id, key, value)
        return str(found.experiment_id)
    location = None
    if not is_server(tracking_uri()):
        root = Path(os.environ.get("TOPICLAB_MLFLOW_ARTIFACTS", default_artifact_root()))
        location = (root / topic).resolve().as_uri()
    try:
        return str(client.create_experiment(name, location, tags=tags))
    except Exception:  # created concurrently by another process
        return str(client.get_experiment_by_name(name).experiment_id)


def ui_base() -> str:
    uri = tracking_uri()
    base = uri if is_server(uri) else mlflow_ui_base()  # a local store: the UI that reads it
    return public_url(base).rstrip("/")  # links are shown to people: no user:password@


def ui_url(experiment: str, run_id: str) -> str:
    return f"{ui_base()}/#/experiments/{experiment}/runs/{run_id}?workflowType=machine_learning"


def run_name(run: RunInfo) -> str:
    """Readable and unique enough: topic, profile, seed and the start time to the second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{run['topic']}-{run['profile']}-seed{run['config'].get('seed')}-{stamp}"


def run_tags(run: RunInfo) -> dict[str, str]:
    git = run.get("git", "")
    tags = {
        "topic": run["topic"],
        "profile": run["profile"],
        "seed": str(run["config"].get("seed")),
        "git_revision": git,
        "prefect_flow_run_id": run.get("flow_run_id") or "",
        **{f"version.{k}": v for k, v in run.get("versions", {}).items()},
        **owner_tags(run.get("pid"), run.get("host")),
        # The source tags the UI shows in its run table and header.
        "mlflow.source.type": "JOB",
        "mlflow.source.name": f"topiclab topic-pipeline {run['topic']}",
        "mlflow.user": _user(),
    }
    if git and git != "unknown":
        tags["mlflow.source.git.commit"] = git.removesuffix("+dirty")
    return {key: redact(value) for key, value in tags.items()}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def model_versions(client: Any, run_id: str) -> list[str]:
    """``name/version`` of every registered model version logged by ``run_id``."""
    found = client.search_model_versions(f"run_id = '{run_id}'")
    return sorted(f"{v.name}/{v.version}" for v in found)


def lineage_tags(client: Any, run: RunInfo) -> dict[str, str]:
    """Tags naming each upstream topic's MLflow run and the model versions it registered."""
    tags: dict[str, str] = {}
    for topic, up in sorted(run.get("upstream", {}).items()):
        tags[f"upstream.{topic}.cache_key"] = up.get("cache_key", "")
        up_run = up.get("links", {}).get("runs", {}).get(TRACKER)
        if not up_run:
            continue
        tags[f"upstream.{topic}.run_id"] = up_run
        # A cached upstream run logged no model: the run that computed it did.
        source = client.get_run(up_run).data.tags.get("topiclab.source_run.train", up_run)
        versions = model_versions(client, source)
        if versions:
            tags[f"upstream.{topic}.model_versions"] = ", ".join(versions)
    return tags


def claims_markdown(claims: list[dict[str, Any]], profile: str) -> list[str]:
    """The claims counted and marked as the report does: a failed claim its profile is too
    small for (quick) is *not expected*, not FAIL; each with its value and anchor."""
    counts = claim_counts(claims, profile)
    waived = counts["claims_not_expected"]
    head = f"{counts['claims_passed']}/{counts['claims_total']} confirmed"
    head += f", {waived} not expected of profile `{profile}`" if waived else ""
    lines = [f"\nClaims: {head}\n"]
    for c in claims:
        failed = "FAIL" if str(c.get("id")) in counts["failed_claims"] else "not expected"
        mark = "PASS" if c.get("passed") else failed
        lines.append(
            f"- {mark} `{c.get('id')}`: {c.get('statement', '')}"
            f" ({c.get('value')}; anchor {c.get('anchor', '')})"
        )
    return lines


def note(run: RunInfo, outcome: dict[str, Any], claims: list[dict[str, Any]]) -> str:
    """The run description (``mlflow.note.content``, Markdown): verdict, claims, links."""
    lines = [f"**{run['topic']}**, profile `{run['profile']}`, seed {run['config'].get('seed')}"]
    if outcome.get("status") != "FINISHED":
        lines.append(f"\n**{outcome.get('status')}**: {outcome.get('error') or ''}")
    if claims:
        lines += claims_markdown(claims, run["profile"])
    if outcome.get("cached_stages"):
        lines.append(f"\nStages reused from the cache: {', '.join(outcome['cached_stages'])}")
    urls = {k: v for k, v in run["links"]["urls"].items() if not k.startswith("MLflow")}
    if urls:
        lines.append("\n" + " · ".join(f"[{label}]({url})" for label, url in urls.items()))
    return redact("\n".join(lines))
