"""Prefect flows: one topic's pipeline, and the suite of topics.

    from topiclab.flows.pipeline import topic_pipeline, suite
    topic_pipeline("diffusion", profile="quick", out_dir="out")
    suite(["llama", "diffusion"], profile="standard")

Stages are tasks whose results are persisted and cached across runs. The cache key is the
stage's content-addressed folder (topic, resolved config, plugin code fingerprint) and the
stage name, so an unchanged re-run skips finished stages and a killed run resumes after the
last finished one. Stage tasks get keys and plain dicts, never plugin objects.
"""

from __future__ import annotations

from topiclab.core.environment import configure_environment

configure_environment()  # before prefect and mlflow are imported

import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_link_artifact, create_table_artifact  # noqa: E402
from prefect.context import TaskRunContext  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from topiclab.core.config import resolve_config  # noqa: E402
from topiclab.core.errors import TopiclabError  # noqa: E402
from topiclab.core.hookspecs import RunInfo, RunOutcome, empty_links, merge_links  # noqa: E402
from topiclab.core.outputs import (  # noqa: E402
    git_revision,
    library_versions,
    publish_topic,
    resolve_out_dir,
)
from topiclab.core.registry import get_registry  # noqa: E402
from topiclab.core.report import write_index  # noqa: E402
from topiclab.core.stages import (  # noqa: E402
    DONE_MARKER,
    config_hash,
    execute_stage,
    stage_dir,
    work_root,
)
from topiclab.core.topic import STAGES, StageResult  # noqa: E402


def stage_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The stage folder already encodes topic, config and code; the run info is left out."""
    blob = f"{parameters['topic']}|{parameters['stage']}|{parameters['workdir']}"
    return "stage-" + hashlib.sha256(blob.encode()).hexdigest()[:32]


@task(
    name="stage",
    task_run_name="{topic}.{stage}",
    persist_result=True,
    cache_key_fn=stage_cache_key,
    retries=0,
)  # stages are deterministic: a retry won't help
def run_stage(
    topic: str,
    stage: str,
    profile: str,
    config: dict[str, Any],
    workdir: str,
    upstream: list[StageResult],
    run: dict[str, Any],
) -> StageResult:
    return execute_stage(topic, stage, profile, config, Path(workdir), upstream, run)


def topic_overrides(topic: str, overrides: list[str] | None) -> list[str]:
    """``--set key=v`` applies to every topic; ``--set topic:key=v`` to that topic only."""
    out = []
    for text in overrides or []:
        head, sep, rest = text.partition(":")
        if sep and "=" not in head:
            if head == topic:
                out.append(rest)
        else:
            out.append(text)
    return out


def new_run_info(topic: str, profile: str, config: dict[str, Any]) -> RunInfo:
    registry = get_registry()
    versions = library_versions()
    versions.update({f"plugin.{p.name}": p.version for p in registry.plugins.infos if not p.error})
    return {
        "topic": topic,
        "profile": profile,
        "config": config,
        "versions": versions,
        "git": git_revision(),
        "flow_run_id": str(flow_run.get_id() or ""),
        "links": empty_links(),
        "upstream": {},
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }


def prefect_urls(flow_run_id: str) -> dict[str, str]:
    """The flow run's page, when a lasting Prefect server (``PREFECT_API_URL``) serves it;
    a temporary server's page would be gone when the run ends."""
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    base = os.environ.get("PREFECT_UI_URL") or (api.removesuffix("/api") if api else "")
    if not (base and flow_run_id) or "api.prefect.cloud" in base:  # Cloud: set PREFECT_UI_URL
        return {}
    return {"Prefect flow run": f"{base.rstrip('/')}/runs/flow-run/{flow_run_id}"}


def _run_stages(
    topic: str,
    profile: str,
    config: dict[str, Any],
    root: Path,
    chash: str,
    run: RunInfo,
    use_cache: bool,
) -> tuple[dict[str, StageResult], list[str]]:
    hook = get_registry().hook
    logger = get_run_logger()
    results: dict[str, StageResult] = {}
    cached: list[str] = []
    for stage in STAGES:
        workdir = stage_dir(root, topic, chash, stage)
        fresh = not use_cache or not (workdir / DONE_MARKER).is_file()
        hook.topiclab_before_stage(run=run, stage=stage)
        try:
            state = run_stage.with_options(refresh_cache=fresh)(
                topic,
                stage,
                profile,
                config,
                str(workdir),
                [results[s] for s in STAGES[: STAGES.index(stage)]],
                {**run, "stage": stage},
                return_state=True,
            )
            results[stage] = state.result()
        except BaseException as exc:
            hook.topiclab_on_stage_error(run=run, stage=stage, error=exc)
            raise
        hit = state.name == "Cached"
        if hit:
            cached.append(stage)
        logger.info("stage %s %s", stage, "reused from cache" if hit else "done")
        hook.topiclab_after_stage(run=run, stage=stage, result=results[stage], cached=hit)
    return results, cached


def _publish_artifacts(topic: str, evaluation: StageResult, run: RunInfo) -> None:
    urls = run["links"]["urls"]
    rows = [
        {
            "claim": c.id,
            "statement": c.statement,
            "this run": str(c.value),
            "anchor": c.anchor,
            "verdict": "PASS" if c.passed else "FAIL",
        }
        for c in evaluation.claims
    ]
    rows += [
        {"claim": f"metric: {k}", "this run": f"{v:.6g}"} for k, v in evaluation.metrics.items()
    ]
    key = "".join(ch if ch.isalnum() else "-" for ch in topic.lower())
    create_table_artifact(
        table=rows,
        key=f"{key}-results",
        description=f"{topic}: claims and metrics. "
        + " ".join(f"[{label}]({url})" for label, url in urls.items()),
    )
    for label, url in urls.items():  # one link artifact per tracker page
        slug = "".join(ch if ch.isalnum() else "-" for ch in label.lower())
        create_link_artifact(link=url, link_text=label, key=f"{key}-{slug}")


@flow(name="topic-pipeline", flow_run_name="{topic}-{profile}", validate_parameters=True)
def topic_pipeline(
    topic: str,
    profile: str = "standard",
    overrides: list[str] | None = None,
    config_file: str | None = None,
    out_dir: str | None = None,
    use_cache: bool = True,
    multi_topic: bool = False,
) -> dict[str, Any]:
    """generate -> train -> evaluate -> report for one topic; returns its ``metrics.json``.

    ``multi_topic``: the TOML file serves several topics (``[other-topic]`` tables are skipped).
    """
    registry = get_registry()
    topic_cls = type(registry.topic(topic))
    cfg = resolve_config(
        topic_cls,
        profile,
        Path(config_file) if config_file else None,
        topic_overrides(topic, overrides),
        multi_topic_toml=multi_topic,
    )
    config = cfg.model_dump(mode="json")
    out = resolve_out_dir(out_dir)
    _set_aside_previous(out / topic / "metrics.json")
    chash = config_hash(topic, config, registry.fingerprint(topic, config), profile)
    run = new_run_info(topic, profile, config)
    start = time.perf_counter()
    try:
        run["links"]["urls"].update(prefect_urls(run["flow_run_id"]))
        for links in registry.hook.topiclab_before_run(run=run):
            merge_links(run["links"], links)
        results, cached = _run_stages(topic, profile, config, work_root(), chash, run, use_cache)
        seconds = time.perf_counter() - start
        metrics_json = publish_topic(
            out,
            topic,
            profile,
            results["evaluate"],
            results["report"],
            run["links"],
            seconds,
            extra={
                "cached_stages": cached,
                "seed": config.get("seed"),
                "versions": run["versions"],
                "git": run["git"],
            },
        )
        _publish_artifacts(topic, results["evaluate"], run)
    except BaseException as exc:  # Ctrl-C included: the tracked run must not stay RUNNING
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        failed: RunOutcome = {
            "status": "FAILED",
            "seconds": time.perf_counter() - start,
            "error": message,
            "out_dir": str(out),
        }
        registry.hook.topiclab_after_run(run=run, outcome=failed)
        raise
    finished: RunOutcome = {
        "status": "FINISHED",
        "seconds": seconds,
        "error": None,
        "out_dir": str(out),
        "report": str(out / topic / "report.html"),
        "metrics_json": str(metrics_json),
        "cached_stages": cached,
    }
    registry.hook.topiclab_after_run(run=run, outcome=finished)
    return dict(json.loads(metrics_json.read_text()))


def _set_aside_previous(metrics_json: Path) -> None:
    """A new run into the same folder must not leave the last run's verdict looking current:
    keep the old file as ``metrics.previous.json`` (nothing is deleted)."""
    if metrics_json.exists():
        metrics_json.replace(metrics_json.with_name("metrics.previous.json"))


class SuiteFailed(TopiclabError):
    """Some topics of a suite failed; the others finished and the index lists all."""


@flow(name="topiclab-suite", validate_parameters=True)
def suite(
    topics: list[str] | None = None,
    profile: str = "standard",
    overrides: list[str] | None = None,
    config_file: str | None = None,
    out_dir: str | None = None,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Run several topics (default: all); one failing topic does not stop the others."""
    registry = get_registry()
    keys = topics or sorted(registry.topics)
    for key in keys:
        registry.topic(key)  # unknown keys fail before anything runs
    out = resolve_out_dir(out_dir)
    entries: list[dict[str, Any]] = []
    logger = get_run_logger()
    for key in keys:
        start = time.perf_counter()
        try:
            result = topic_pipeline(
                key, profile, overrides, config_file, str(out), use_cache, multi_topic=True
            )
            claims = result["claims"]
            entries.append(
                {
                    "topic": key,
                    "status": "ok",
                    "seconds": result["seconds"],
                    "claims_passed": sum(c["passed"] for c in claims),
                    "claims_total": len(claims),
                    "report": True,
                    "links": result.get("links", {}),
                }
            )
        except Exception as exc:
            logger.error("topic %s failed: %s", key, exc)
            entries.append(
                {
                    "topic": key,
                    "status": "failed",
                    "seconds": time.perf_counter() - start,
                    "error": f"{type(exc).__name__}: {exc}".splitlines()[0],
                }
            )
    index = write_index(out, entries)
    summary = {"out_dir": str(out), "index": str(index), "topics": entries}
    failed = [e["topic"] for e in entries if e["status"] != "ok"]
    if failed:
        raise SuiteFailed(
            f"{len(failed)} of {len(keys)} topics failed: {', '.join(failed)}; index at {index}"
        )
    return summary
