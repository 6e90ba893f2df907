"""Deployments: one per topic and one for the suite, served from this process.

    topiclab ui &                                   # a persistent Prefect server
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    topiclab serve --cron "0 3 * * *"               # suite nightly; topics on demand

Then trigger any of them from the Prefect UI ("Deployments" -> Run). A run triggered there
writes ``$TOPICLAB_HOME/results/<timestamp>/`` (and re-points ``results/latest``), whatever
folder ``serve`` was started from. For work pools and workers on other machines see
``deploy/prefect.yaml``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from topiclab.app.prefect_api import find_server
from topiclab.core.environment import topiclab_home
from topiclab.core.errors import TopiclabError


def ensure_server() -> str:
    """Schedules need a persistent server: ``PREFECT_API_URL``, or ``topiclab ui``'s."""
    api, why = find_server()
    if api is None:
        raise TopiclabError(
            f"{why + '; ' if why else ''}serving deployments needs a running Prefect server: "
            "start one with `topiclab ui` (or `prefect server start`) and set PREFECT_API_URL"
        )
    os.environ["PREFECT_API_URL"] = api.url
    return api.url


def results_folder() -> Path:
    """Where runs of the served deployments work: flow runs are child processes that
    inherit the server's working folder, and a run without ``out_dir`` writes
    ``results/<timestamp>`` relative to it. Under ``$TOPICLAB_HOME``, not wherever the
    user happened to type ``topiclab serve``."""
    folder = topiclab_home()
    (folder / "results").mkdir(parents=True, exist_ok=True)
    return folder


def _keep_imports_after_chdir() -> None:
    """The flow runs are ``python -m prefect.engine`` in the new folder: they must import the
    topiclab this process runs (a checkout, say), and relative PYTHONPATH entries must not
    change meaning."""
    import topiclab

    source = str(Path(topiclab.__file__).resolve().parents[1])
    entries = [
        str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
    ]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([source, *entries]))


INTERNAL_PARAMETERS = ("multi_topic",)  # set by the suite, never by a user


def with_topic_choices(deployment: Any, topics: list[str]) -> Any:
    """The Prefect UI's run form: ``topic`` (and the suite's ``topics``) as a drop-down of
    the registered topics, internal flags hidden. The flows take any string, so a plugin
    installed later is still accepted; the schema is what the form offers."""
    props = deployment._parameter_openapi_schema.properties  # Prefect's own freeze() edits it
    if "topic" in props:
        props["topic"] = {**props["topic"], "enum": list(topics)}
    if "topics" in props:  # list[str] | None: anyOf [{array of string}, {null}]
        for option in props["topics"].get("anyOf", [props["topics"]]):
            if option.get("type") == "array":
                option["items"] = {**option.get("items", {}), "enum": list(topics)}
    for name in INTERNAL_PARAMETERS:
        props.pop(name, None)
    return deployment


def build_deployments(
    topics: list[str], profile: str, cron: str | None, topic_cron: str | None
) -> list[Any]:
    from prefect.types.entrypoint import EntrypointType

    from topiclab.flows.pipeline import suite, topic_pipeline

    # A module path, not a file path relative to the folder `serve` started in: the runs
    # work in results_folder(), where a relative file path would not resolve.
    by_module = EntrypointType.MODULE_PATH
    deployments = [
        topic_pipeline.to_deployment(
            name=key,
            description=f"One {key} run: generate -> train -> evaluate -> report.",
            parameters={"topic": key, "profile": profile},
            cron=topic_cron,
            tags=["topiclab", key],
            entrypoint_type=by_module,
        )
        for key in topics
    ]
    deployments.append(
        suite.to_deployment(
            name="all-topics",
            description="Every topic (or those chosen), as a DAG; a failing one does not "
            "stop the others.",
            parameters={"profile": profile},
            cron=cron,
            tags=["topiclab", "suite"],
            entrypoint_type=by_module,
        )
    )
    return [with_topic_choices(d, topics) for d in deployments]


def serve_deployments(
    topics: list[str], profile: str, cron: str | None, topic_cron: str | None, console: Any
) -> None:
    url = ensure_server()
    deployments = build_deployments(topics, profile, cron, topic_cron)
    folder = results_folder()
    _keep_imports_after_chdir()
    os.chdir(folder)
    console.print(
        f"serving {len(deployments)} deployments on {url} "
        f"(topic-pipeline/<topic>, topiclab-suite/all-topics); results in {folder / 'results'}; "
        "Ctrl-C stops"
    )
    import httpx
    from prefect.exceptions import TerminationSignal

    try:
        gone = _serve_while_answering(deployments, url)
    except httpx.TransportError as exc:  # e.g. `topiclab ui` stopped first: no traceback
        gone = type(exc).__name__
    except (KeyboardInterrupt, TerminationSignal):  # Ctrl-C, SIGTERM: as prefect.serve does
        return
    if gone:
        raise TopiclabError(
            f"the Prefect server at {url} stopped answering ({gone}); "
            "the deployments stay registered there: start it again, then `topiclab serve`"
        ) from None


#: A served runner checks its server this often; this many refused checks in a row end it.
CHECK_S, CHECKS = 1.0, 3
#: A check that times out may be a busy server (load 20 on 2 cores), not a stopped one: only
#: this long without any answer ends the runner.
BUSY_S = 60.0


def _serve_while_answering(deployments: list[Any], url: str) -> str | None:
    """``prefect.serve``, ended within seconds once the server stops answering ``/health``:
    Prefect's runner retries every call for about 80 s, then pauses the deployments (more
    retries). Returns why it ended that way, or None when the runner ended by itself."""
    import asyncio

    from prefect.runner import Runner

    runner = Runner(pause_on_shutdown=True)
    for deployment in deployments:
        runner.add_deployment(deployment)
    gone: str | None = None

    async def watch() -> None:
        nonlocal gone
        gone = f"no answer at {url}/health{await until_gone(url)}"
        runner.pause_on_shutdown = False  # nothing to pause them on
        await runner.astop()

    async def main() -> None:  # plain asyncio: the runner's own errors come unwrapped
        watcher = asyncio.create_task(watch())
        try:
            await runner.start()
        finally:
            watcher.cancel()  # the runner ended: stop watching

    asyncio.run(main())
    return gone


async def until_gone(
    url: str,
    every: float = CHECK_S,
    checks: int = CHECKS,
    patience: float = BUSY_S,
    timeout: float = 2.0,
) -> str:
    """Return once ``url``'s ``/health`` is refused ``checks`` times in a row, ``every`` s
    apart, or has not answered for ``patience`` s (a check that waits its whole ``timeout``
    may be a busy server, so it counts towards ``patience`` only); say which."""
    import time

    import anyio

    from topiclab.app.servers import healthy

    refused, silent_since = 0, None
    while refused < checks:
        await anyio.sleep(every)
        start = time.monotonic()
        if await anyio.to_thread.run_sync(healthy, f"{url}/health", timeout):
            refused, silent_since = 0, None
            continue
        now = time.monotonic()
        silent_since = silent_since or start
        if now - silent_since >= patience:
            return f" for {patience:g} s"
        refused = refused + 1 if now - start < 0.9 * timeout else 0
    return f" {checks} times in a row"
