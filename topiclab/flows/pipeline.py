"""Prefect flows: one topic's pipeline, and the suite of topics.

    from topiclab.flows.pipeline import topic_pipeline, suite
    topic_pipeline("diffusion", profile="quick", out_dir="out")
    suite(["llama", "diffusion"], profile="standard", workers=2)

Stages are tasks; their cache is the stage's content-addressed folder (its own key: topic, the
config values that stage reads, code fingerprint, cache keys of consumed topics, the previous
stage's key) with a done-marker that records every file's hash (``core.stages``), so an
unchanged re-run skips finished stages, a changed evaluation option reuses the trained models,
a killed run resumes after the last finished one, and a damaged stage is recomputed. Stage
tasks get keys and plain dicts, never plugin objects. A topic that ``consumes`` another runs
(or reuses) that one first; the suite runs the topics as a DAG, independent ones at once with
``workers`` > 1, or, started from a deployment on a work pool, as runs of the topics'
deployments for the pool's workers.
"""

from __future__ import annotations

from topiclab.core.environment import configure_environment

configure_environment()  # before prefect and mlflow are imported

import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Literal, cast  # noqa: E402

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import (  # noqa: E402
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.client.schemas.objects import FlowRun  # noqa: E402
from prefect.context import FlowRunContext  # noqa: E402
from prefect.logging.loggers import flow_run_logger  # noqa: E402
from prefect.runtime import deployment, flow_run  # noqa: E402
from prefect.settings import PREFECT_API_URL, temporary_settings  # noqa: E402
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner  # noqa: E402

from topiclab.core import console  # noqa: E402
from topiclab.core.cells import claim_counts  # noqa: E402
from topiclab.core.console import TERMINAL  # noqa: E402
from topiclab.core.dag import (  # noqa: E402
    Identity,
    identity,
    read_run_record,
    upstream_outputs,
    upstream_topics,
    waves,
    with_upstream,
    write_run_record,
)
from topiclab.core.environment import topiclab_home  # noqa: E402
from topiclab.core.errors import TopiclabError  # noqa: E402
from topiclab.core.home import update_home  # noqa: E402
from topiclab.core.hookspecs import RunInfo, RunOutcome, empty_links, merge_links  # noqa: E402
from topiclab.core.manifest import UpstreamOutput  # noqa: E402
from topiclab.core.outputs import (  # noqa: E402
    git_revision,
    library_versions,
    publish_topic,
    resolve_out_dir,
)
from topiclab.core.registry import Registry, get_registry  # noqa: E402
from topiclab.core.report import (  # noqa: E402
    claims_summary,
    md_records,
    metrics_markdown,
    write_index,
)
from topiclab.core.secrets import public_url, redact  # noqa: E402
from topiclab.core.stages import (  # noqa: E402
    StageOutcome,
    StageRemoved,
    finished,
    holding,
    over_if_removed,
    run_stage,
    work_root,
)
from topiclab.core.topic import STAGES, StageResult, verdict  # noqa: E402
from topiclab.flows.assets import record_output  # noqa: E402
from topiclab.flows.pool import start_topic_runs, wait_for_runs, work_pool  # noqa: E402

# The profiles as a type, so Prefect's run form offers them in a drop-down (core.topic.PROFILES
# is the same tuple; a test holds them equal). Topic keys come from the plugins, so their
# drop-down is added to each deployment's schema when it is built (app.deploy).
Profile = Literal["quick", "standard", "full"]


@task(
    name="stage",
    task_run_name="{topic}.{stage}",
    cache_policy=NO_CACHE,  # the stage folder is the cache: core.stages checks its files
    persist_result=False,
    retries=0,
)  # stages are deterministic: a retry won't help
def stage_task(
    topic: str,
    stage: str,
    profile: str,
    config: dict[str, Any],
    workdir: str,
    upstream: list[StageResult],
    run: dict[str, Any],
    inputs: dict[str, UpstreamOutput],
    use_cache: bool,
    reads: list[str] | None = None,
) -> StageOutcome | str:
    """The stage's outcome, or the line saying that a stage it reads was removed meanwhile
    (nothing was computed: the flow starts its stages over, and this task is not a failure)."""
    logger = get_run_logger()
    folders = [Path(p) for p in reads or []]
    try:
        return run_stage(
            topic,
            stage,
            profile,
            config,
            Path(workdir),
            upstream,
            run,
            inputs,
            use_cache,
            logger.info,
            folders,
            on_wait=_terminal(logger),
        )
    except StageRemoved as exc:
        logger.info("%s", exc.args[0].split(" (")[0])  # over_if_removed says what follows
        return str(exc.args[0])


def _flow_logger() -> Any:
    """The topic flow run's logger. ``get_run_logger`` would give the task run's where the
    flow runs inside a task (a suite's topic on a worker process): its "stage ..." lines
    belong to the topic's flow run, in the Prefect UI and at the terminal (``app.logfile``
    echoes them from flow runs only), wherever the flow runs."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return get_run_logger()
    return flow_run_logger(context.flow_run, context.flow)


def _terminal(logger: Any) -> Callable[[str], None]:
    """Log at INFO a line that a CLI run also shows at the terminal (``core.console``)."""
    return lambda line: logger.info(line, extra={TERMINAL: True})


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
        "upstream": {},  # {topic: {"cache_key", "links"}}: the runs this one stands on
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }


def prefect_urls(flow_run_id: str) -> dict[str, str]:
    """The flow run's page: on ``PREFECT_UI_URL`` (a run's own temporary server sets it to
    where ``topiclab ui`` serves the same database), else on the ``PREFECT_API_URL`` server."""
    api = public_url(os.environ.get("PREFECT_API_URL", "")).rstrip("/")
    base = os.environ.get("PREFECT_UI_URL") or (api.removesuffix("/api") if api else "")
    if not (base and flow_run_id) or "api.prefect.cloud" in base:  # Cloud: set PREFECT_UI_URL
        return {}
    return {"Prefect flow run": f"{base.rstrip('/')}/runs/flow-run/{flow_run_id}"}


class Told:
    """What the trackers heard of each stage of a run, over the passes that start its stages
    over (``over_if_removed``). A computed stage is told at once; a reused one only when the
    run's stages end (``flush``), since a later pass may yet compute it (a clean removed it):
    told at once, it would reach a tracker twice, and MLflow would keep the first telling's
    metrics and its ``source_run`` tag beside the second's."""

    def __init__(self) -> None:
        self.begun: set[str] = set()
        self.outcomes: dict[str, StageOutcome] = {}  # each stage's latest outcome
        self.said: dict[str, StageOutcome] = {}  # what the trackers heard

    def new_pass(self) -> None:
        """A pass starts: a reuse of an earlier one is told only if this pass reaches it
        (what it computed was told already, and is kept: this pass may reuse it)."""
        self.outcomes = {s: o for s, o in self.outcomes.items() if not o.cached}

    def begin(self, run: RunInfo, stage: str) -> None:
        if stage not in self.begun:
            get_registry().hook.topiclab_before_stage(run=run, stage=stage)
            self.begun.add(stage)

    def outcome(self, run: RunInfo, stage: str, outcome: StageOutcome) -> StageOutcome:
        """Record this pass's outcome (a stage an earlier pass computed and this one reused
        stays computed); tell it now if computed. The outcome the run keeps."""
        before = self.outcomes.get(stage)
        if before is not None and not before.cached and before.result == outcome.result:
            outcome = before  # an earlier pass of this run computed what this one reused
        self.outcomes[stage] = outcome
        if not outcome.cached:
            self._tell(run, stage)
        return outcome

    def flush(self, run: RunInfo) -> None:
        """Tell the reused stages: the run's stages ended (or failed), so nothing changes
        their outcome any more."""
        for stage in STAGES:
            if stage in self.outcomes:
                self._tell(run, stage)

    def flush_quietly(self, run: RunInfo) -> None:
        """``flush`` while the run fails: a tracker's error then is logged, never raised, so
        it does not hide the run's own error (a Ctrl-C's included) nor skip its error hooks."""
        try:
            self.flush(run)
        except Exception as exc:
            get_run_logger().warning("trackers not told of the reused stages: %s", exc)

    def _tell(self, run: RunInfo, stage: str) -> None:
        now, said = self.outcomes[stage], self.said.get(stage)
        if said is None or (said.cached, said.result) != (now.cached, now.result):
            get_registry().hook.topiclab_after_stage(
                run=run, stage=stage, result=now.result, cached=now.cached
            )
            self.said[stage] = now


def _run_stages(
    ident: Identity,
    run: RunInfo,
    inputs: dict[str, UpstreamOutput],
    use_cache: bool,
    told: Told,
) -> tuple[dict[str, StageResult], list[str], dict[str, float]]:
    """One pass over the stages; ``StageRemoved`` if a stage found one it reads removed.
    Hooks hear of each stage once, with its final outcome (``Told``)."""
    hook = get_registry().hook
    logger = _flow_logger()
    results: dict[str, StageResult] = {}
    cached: list[str] = []
    seconds: dict[str, float] = {}
    told.new_pass()
    for stage in STAGES:
        told.begin(run, stage)
        try:
            outcome = stage_task(
                ident.topic,
                stage,
                ident.profile,
                ident.config,
                str(ident.stage_folder(stage)),
                [results[s] for s in STAGES[: STAGES.index(stage)]],
                {**run, "stage": stage},
                inputs,
                use_cache,
                [str(ident.stage_folder(s)) for s in STAGES[: STAGES.index(stage)]],
            )
        except BaseException as exc:
            told.flush_quietly(run)  # the stages before it are final: the run ends here
            hook.topiclab_on_stage_error(run=run, stage=stage, error=exc)
            raise
        if isinstance(outcome, str):  # nothing failed yet: the stages start over
            raise StageRemoved(outcome)  # (over_if_removed; after its last pass, the error)
        why = "reused from cache" if outcome.cached else f"computed ({outcome.reason})"
        logger.info("stage %s %s", stage, why)
        outcome = told.outcome(run, stage, outcome)
        results[stage], seconds[stage] = outcome.result, outcome.seconds
        if outcome.cached:
            cached.append(stage)
    return results, cached, seconds


def _cached_results(ident: Identity) -> dict[str, StageResult] | None:
    """Every stage of a finished pipeline, if all are intact (their files are checked), each
    read under its shared lock: a run computing it now is waited for, not taken as missing
    (which ran the upstream topic again). A downstream run uses them, so each is marked
    used (not old for `topiclab cache clean`)."""
    results = {}
    for stage in STAGES:
        waiting = f"upstream {ident.topic}: another run is computing its {stage}; waiting for it"

        def say(line: str = waiting) -> None:
            _terminal(_flow_logger())(line)

        try:
            result = finished(ident.stage_folder(stage), on_wait=say)
        except OSError:  # the upstream run that follows says what is wrong with the cache
            return None
        if result is None:
            return None
        results[stage] = result
    return results


def _ensure_upstream(
    ident: Identity, overrides: list[str] | None, config_file: str | None, out_dir: Path
) -> tuple[dict[str, StageResult], dict[str, Any]]:
    """Reuse a finished upstream pipeline (no new tracked run), or run it first."""
    folder = work_root() / ident.topic / ident.cache_key
    record = read_run_record(folder)
    results = _cached_results(ident) if record is not None else None
    if record is None or results is None:
        try:
            profile = cast(Profile, ident.profile)  # checked when the identity was resolved
            topic_pipeline(ident.topic, profile, overrides, config_file, str(out_dir), True, True)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise TopiclabError(f"upstream topic '{ident.topic}' failed: {message}") from exc
        record, results = read_run_record(folder), _cached_results(ident)
        if record is None or results is None:
            raise TopiclabError(f"upstream topic '{ident.topic}' finished but left no outputs")
    else:
        get_run_logger().info("upstream %s reused (cache key %s)", ident.topic, ident.cache_key)
    return results, record


def _upstream(
    registry: Registry,
    ident: Identity,
    overrides: list[str] | None,
    config_file: str | None,
    out: Path,
) -> tuple[dict[str, UpstreamOutput], dict[str, Any]]:
    """Run or reuse the topics ``ident`` consumes; their outputs as manifests, and the lineage
    (``{topic: {"cache_key", "links"}}``) for the run info the trackers receive."""
    done = {
        key: _ensure_upstream(up, overrides, config_file, out) for key, up in ident.upstream.items()
    }
    inputs = upstream_outputs(registry, ident.topic, ident, {k: r for k, (r, _) in done.items()})
    lineage = {
        key: {"cache_key": ident.upstream[key].cache_key, "links": record.get("links", {})}
        for key, (_, record) in done.items()
    }
    return inputs, lineage


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


def out_folder(out_dir: str | None) -> Path:
    """``out_dir``, or a new ``results/<timestamp>``: under ``$TOPICLAB_HOME`` for a run of a
    deployment (a worker's working folder is nobody's business), else where the user is."""
    if out_dir is None and deployment.get_id():
        return resolve_out_dir(None, topiclab_home() / "results")
    return resolve_out_dir(out_dir)


def _publish_artifacts(topic: str, evaluation: StageResult, run: RunInfo) -> None:
    """The Prefect UI's view of the result: ``<topic>-report`` (Markdown: the verdict first,
    then the claims and the metrics, each its own table), ``<topic>-claims`` (a table), and a
    link artifact per tracker page."""
    urls, profile, key = run["links"]["urls"], run["profile"], _slug(topic)
    links = " · ".join(f"[{label}]({public_url(url)})" for label, url in urls.items())
    # Prefect's tables do not wrap: the short columns first, or a long statement pushes the
    # verdict off the page.
    claims = [
        {
            "claim": c.id,
            "verdict": verdict(c, profile) + (f" ({c.note})" if c.note else ""),
            "this run": str(c.value),
            "anchor": c.anchor,
            "statement": c.statement,
            "source": c.source,
        }
        for c in evaluation.claims
    ]
    # artifacts are for people: no secret from the environment, no password in a link
    links = redact(links)
    claims = [{k: redact(v) if isinstance(v, str) else v for k, v in row.items()} for row in claims]
    lines = [f"# {topic}: {claims_summary(evaluation.claims, profile)}", links]
    if evaluation.claims:
        lines += ["## Claims", md_records(claims)]
    if evaluation.metrics:
        lines += ["## Metrics", metrics_markdown(evaluation.metrics)]
    create_markdown_artifact(
        markdown=redact("\n\n".join(line for line in lines if line)),
        key=f"{key}-report",
        description=f"{topic}, profile {profile}: verdict, claims and metrics",
    )
    create_table_artifact(
        table=claims, key=f"{key}-claims", description=f"{topic}: each claim and its verdict"
    )
    for label, url in urls.items():  # one link artifact per tracker page
        create_link_artifact(
            link=public_url(url),
            link_text=label,
            key=f"{key}-{_slug(label)}",
            description=f"{label} of this {topic} run ({profile})",
        )


@flow(name="topic-pipeline", flow_run_name="{topic}-{profile}", validate_parameters=True)
def topic_pipeline(
    topic: str,
    profile: Profile = "standard",
    overrides: list[str] | None = None,
    config_file: str | None = None,
    out_dir: str | None = None,
    use_cache: bool = True,
    multi_topic: bool = False,
) -> dict[str, Any]:
    """generate -> train -> evaluate -> report for one topic; returns its ``metrics.json``.

    Topics it consumes run first (or are reused when finished).

    Args:
        topic: The topic to run (`topiclab list` shows them).
        profile: quick checks the code paths in seconds; standard gives the results on a
            laptop; full uses the papers' sizes.
        overrides: Config values as KEY=VALUE, e.g. seed=1 or steps=50.
        config_file: A TOML file of config values, read on the machine that runs the flow.
        out_dir: Output folder; empty: `results/<timestamp>` in the folder the flow runs in
            (`$TOPICLAB_HOME` under `topiclab serve`).
        use_cache: Reuse finished stages; off recomputes this topic's stages from empty
            folders (upstream topics are still reused).
        multi_topic: Internal: the TOML file serves several topics ([other-topic] tables
            are skipped).
    """
    registry = get_registry()
    ident = identity(registry, topic, profile, overrides, config_file, multi_topic)
    out = out_folder(out_dir)
    inputs, lineage = _upstream(registry, ident, overrides, config_file, out)
    _set_aside_previous(out / topic / "metrics.json")
    run = new_run_info(topic, profile, ident.config)
    run["upstream"] = lineage
    start = time.perf_counter()
    try:
        run["links"]["urls"].update(prefect_urls(run["flow_run_id"]))
        for links in registry.hook.topiclab_before_run(run=run):
            merge_links(run["links"], links)
        passes = 0
        told = Told()

        def stages() -> tuple[dict[str, StageResult], list[str], dict[str, float], Any]:
            nonlocal inputs, passes
            if passes:  # a clean removed a stage: an upstream topic's is recomputed here
                inputs, run["upstream"] = _upstream(registry, ident, overrides, config_file, out)
            passes += 1
            done = _run_stages(ident, run, inputs, use_cache, told)
            # held until published: a clean now would take the files the trackers upload
            folders = [ident.stage_folder(s) for s in STAGES]
            return (*done, holding(folders, topic, get_run_logger().info))

        try:  # at the terminal too: it says why a stage's line comes twice
            results, cached, stage_seconds, held = over_if_removed(
                stages, _terminal(get_run_logger())
            )
        except BaseException:
            told.flush_quietly(run)  # the reused stages are final: the last pass failed
            raise
        with held:  # the stage folders, for what reads their files: trackers, publishing
            told.flush(run)
            seconds = time.perf_counter() - start
            metrics_json = _publish(registry, ident, run, out, results, cached, stage_seconds,
                                    seconds)  # fmt: skip
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


def _publish(
    registry: Registry,
    ident: Identity,
    run: RunInfo,
    out: Path,
    results: dict[str, StageResult],
    cached: list[str],
    stage_seconds: dict[str, float],
    seconds: float,
) -> Path:
    """The run's outputs, once its stages ended: ``metrics.json`` and the report under
    ``out``, the trackers' artifacts, the asset graph, the results home and the run record
    that topics consuming this one name. Returns the ``metrics.json`` path."""
    metrics_json = publish_topic(
        out,
        ident.topic,
        ident.profile,
        results["evaluate"],
        results["report"],
        run["links"],
        seconds,
        extra={
            "cached_stages": cached,
            "seed": ident.config.get("seed"),
            "versions": run["versions"],
            "git": run["git"],
            "cache_key": ident.cache_key,
            "stage_keys": ident.stage_keys,
            "stage_seconds": stage_seconds,
            "upstream": run["upstream"],
        },
    )
    _publish_artifacts(ident.topic, results["evaluate"], run)
    record_output(registry, ident, run)  # the DAG of topics in Prefect's asset graph
    update_home(out)  # results/index.html: every run so far, this one first
    folder = work_root() / ident.topic / ident.cache_key
    if len(cached) < len(STAGES) or read_run_record(folder) is None:
        _record_run(folder, run, ident)
    return metrics_json


def _record_run(folder: Path, run: RunInfo, ident: Identity) -> None:
    """Name the run that computed these stages, for the lineage of topics consuming them."""
    write_run_record(
        folder,
        {
            "topic": ident.topic,
            "profile": ident.profile,
            "cache_key": ident.cache_key,
            "links": run["links"],
            "flow_run_id": run["flow_run_id"],
            "upstream": run["upstream"],
        },
    )


def _set_aside_previous(metrics_json: Path) -> None:
    """A new run into the same folder must not leave the last run's verdict looking current:
    keep the old file as ``metrics.previous.json`` (nothing is deleted)."""
    if metrics_json.exists():
        metrics_json.replace(metrics_json.with_name("metrics.previous.json"))


class SuiteFailed(TopiclabError):
    """Some topics of a suite failed; the others finished and the index lists all."""


def topic_entry(
    key: str,
    profile: Profile,
    overrides: list[str] | None,
    config_file: str | None,
    out_dir: str,
    use_cache: bool,
) -> dict[str, Any]:
    """Run one topic of a suite; its index entry, ``status`` "failed" instead of raising."""
    start = time.perf_counter()
    try:
        result = topic_pipeline(
            key, profile, overrides, config_file, out_dir, use_cache, multi_topic=True
        )
    except Exception as exc:
        get_run_logger().error("topic %s failed: %s", key, exc)
        return failed_entry(key, time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
    return ok_entry(key, result)


def ok_entry(key: str, result: dict[str, Any]) -> dict[str, Any]:
    """A finished topic's index entry, from its ``metrics.json``."""
    claims = result["claims"]
    return {
        "topic": key,
        "status": "ok",
        "seconds": result["seconds"],
        **claim_counts(claims, str(result.get("profile", ""))),
        "report": True,
        "links": result.get("links", {}),
        "metrics": result["metrics"],
    }


def failed_entry(key: str, seconds: float, error: str) -> dict[str, Any]:
    return {
        "topic": key,
        "status": "failed",
        "seconds": seconds,
        "error": error.splitlines()[0] if error else "failed",
    }


# The same function as a task, for a task runner that sends it to another process. It gets
# keys and plain values only; the worker builds its own registry.
topic_task = task(
    name="topic", task_run_name="{key}", cache_policy=NO_CACHE, persist_result=False, retries=0
)(topic_entry)


def _suite_run_name() -> str:
    """``suite-quick-causal-iv+ridge``, or ``suite-quick-all-topics``: says what ran."""
    params = flow_run.get_parameters()
    topics = "+".join(params.get("topics") or ["all-topics"])
    name = f"suite-{params.get('profile', 'standard')}-{topics}"
    return name if len(name) <= 80 else f"{name[:77]}..."


@flow(name="topiclab-suite", flow_run_name=_suite_run_name, validate_parameters=True)
def suite(
    topics: list[str] | None = None,
    profile: Profile = "standard",
    overrides: list[str] | None = None,
    config_file: str | None = None,
    out_dir: str | None = None,
    use_cache: bool = True,
    workers: int = 1,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Run several topics (default: all) as a DAG; one failing topic does not stop the others.

    Started from a deployment on a work pool, the suite runs each topic as a run of its
    deployment ``topic-pipeline/<topic>``, which any worker on the pool may take
    (``flows.pool``); ``workers`` then does not apply.

    Args:
        topics: The topics to run; empty: every registered topic. Topics they consume join.
        profile: quick checks the code paths in seconds; standard gives the results on a
            laptop; full uses the papers' sizes.
        overrides: Config values as KEY=VALUE (seed=1), or TOPIC:KEY=VALUE for one topic.
        config_file: A TOML file of config values; a [topic] table applies to that topic.
        out_dir: Output folder; empty: `results/<timestamp>` in the folder the flow runs in
            (`$TOPICLAB_HOME` under `topiclab serve`).
        use_cache: Reuse finished stages; off recomputes every stage from empty folders.
        workers: Run this many independent topics at once, in local processes.
        dask_address: Send topics to this Dask scheduler (tcp://host:8786) instead; give it
            a real Prefect server, or every Dask worker starts a temporary one.
    """
    registry = get_registry()
    # Unknown keys and cycles fail here; topics the named ones consume join the suite.
    keys = with_upstream(registry, topics or sorted(registry.topics))
    out = out_folder(out_dir)
    args: dict[str, Any] = {
        "profile": profile,
        "overrides": overrides,
        "config_file": config_file,
        "out_dir": str(out),
        "use_cache": use_cache,
    }
    if work_pool() and not dask_address:  # started from a deployment on a work pool
        entries = _run_on_pool(registry, keys, args)
    elif workers <= 1 and not dask_address:
        entries = _run_in_order(registry, keys, lambda key: topic_entry(key, **args))
    else:
        entries = _run_concurrently(registry, keys, args, workers, dask_address)
    index = write_index(out, entries)
    summary = {"out_dir": str(out), "index": str(index), "topics": entries}
    failed = [e["topic"] for e in entries if e["status"] != "ok"]
    if failed:
        raise SuiteFailed(
            f"{len(failed)} of {len(keys)} topics failed: {', '.join(failed)}; index at {index}"
        )
    return summary


def _blocked(
    registry: Registry, key: str, entries: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The entry of a topic whose upstream topic failed in this suite (it is not run)."""
    failed = [
        u for u in upstream_topics(registry, key) if entries.get(u, {}).get("status") == "failed"
    ]
    if not failed:
        return None
    return failed_entry(key, 0.0, f"upstream topic {', '.join(failed)} failed")


def _run_in_order(
    registry: Registry, keys: list[str], run_one: Callable[[str], dict[str, Any]]
) -> list[dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for key in keys:
        entries[key] = _blocked(registry, key, entries) or run_one(key)
    return [entries[k] for k in keys]


def _run_waves(
    registry: Registry, keys: list[str], run_wave: Callable[[list[str]], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Wave by wave: ``run_wave`` gets the topics whose upstream topics have all finished
    (those with a failed upstream are not run) and returns their entries."""
    entries: dict[str, dict[str, Any]] = {}
    for wave in waves(registry, keys):
        runnable = []
        for key in wave:
            blocked = _blocked(registry, key, entries)
            if blocked:
                entries[key] = blocked
            else:
                runnable.append(key)
        entries.update(run_wave(runnable))
    return [entries[k] for k in keys]


def _run_concurrently(
    registry: Registry,
    keys: list[str],
    args: dict[str, Any],
    workers: int,
    dask_address: str | None,
) -> list[dict[str, Any]]:
    """The topics of a wave at once, as tasks on local processes or a Dask cluster."""
    with _shared_api(), _task_runner(workers, dask_address) as runner:

        def run_wave(wave: list[str]) -> dict[str, Any]:
            futures = {k: runner.submit(topic_task, {"key": k, **args}) for k in wave}
            return {key: future.result() for key, future in futures.items()}

        return _run_waves(registry, keys, run_wave)


def _run_on_pool(registry: Registry, keys: list[str], args: dict[str, Any]) -> list[dict[str, Any]]:
    """The topics of a wave at once, each a run of its deployment for any worker on the pool
    (``flows.pool``); a topic without a deployment runs here."""

    def run_wave(wave: list[str]) -> dict[str, Any]:
        started = start_topic_runs(wave, {**args, "multi_topic": True})
        entries = {k: topic_entry(k, **args) for k in wave if k not in started}
        for key, run in wait_for_runs(started).items():
            entries[key] = _pool_entry(key, run, Path(args["out_dir"]))
        return entries

    return _run_waves(registry, keys, run_wave)


def _pool_entry(key: str, run: FlowRun, out: Path) -> dict[str, Any]:
    """A topic run's index entry, from the ``metrics.json`` it wrote into the shared folder."""
    seconds = run.total_run_time.total_seconds()
    state = run.state
    if state is None or not state.is_completed():
        why = f"{state.name}: {state.message or ''}" if state else "no state"
        return failed_entry(key, seconds, f"flow run {run.name} ended {why}")
    metrics_json = out / key / "metrics.json"
    if not metrics_json.exists():  # the worker wrote it into a folder this one cannot see
        return failed_entry(
            key,
            seconds,
            f"flow run {run.name} finished but {metrics_json} is not here: "
            "TOPICLAB_HOME must be a folder every worker shares (deploy/README.md)",
        )
    return ok_entry(key, json.loads(metrics_json.read_text()))


@contextmanager
def _shared_api() -> Iterator[None]:
    """Worker processes use this process's Prefect API, a temporary one included; without
    this each would start a temporary server of its own (5-20 s and ~250 MB each)."""
    if PREFECT_API_URL.value():
        yield
        return
    from prefect.client.orchestration import get_client

    with temporary_settings(updates={PREFECT_API_URL: str(get_client(sync_client=True).api_url)}):
        yield


def _task_runner(workers: int, dask_address: str | None) -> TaskRunner[Any]:
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    setup = console.worker_setup  # a CLI run's: the workers' lines go where its own go
    if setup is None:
        return ProcessPoolTaskRunner(max_workers=workers)
    return ProcessPoolTaskRunner(max_workers=workers, initializer=setup[0], initargs=setup[1])
