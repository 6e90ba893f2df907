"""Deployments: one per topic and one for the suite, served from this process.

    topiclab ui &                                   # a persistent Prefect server
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    topiclab serve --cron "0 3 * * *"               # suite nightly; topics on demand

Then trigger any of them from the Prefect UI ("Deployments" -> Run). For work pools and
workers on other machines see ``deploy/prefect.yaml``.
"""

from __future__ import annotations

import os
from typing import Any

from topiclab.app.servers import healthy
from topiclab.core.errors import TopiclabError


def ensure_server() -> str:
    """Schedules need a persistent server; use ``PREFECT_API_URL`` or a local one on 4200."""
    url = os.environ.get("PREFECT_API_URL")
    if not url and healthy("http://127.0.0.1:4200/api/health"):
        url = os.environ["PREFECT_API_URL"] = "http://127.0.0.1:4200/api"
    if not url or not healthy(f"{url.rstrip('/')}/health"):
        raise TopiclabError(
            "serving deployments needs a running Prefect server: start one with "
            "`topiclab ui` (or `prefect server start`) and set PREFECT_API_URL"
        )
    return url


def build_deployments(
    topics: list[str], profile: str, cron: str | None, topic_cron: str | None
) -> list[Any]:
    from topiclab.flows.pipeline import suite, topic_pipeline

    deployments = [
        topic_pipeline.to_deployment(
            name=key,
            parameters={"topic": key, "profile": profile},
            cron=topic_cron,
            tags=["topiclab", key],
        )
        for key in topics
    ]
    deployments.append(
        suite.to_deployment(
            name="all-topics",
            parameters={"profile": profile},
            cron=cron,
            tags=["topiclab", "suite"],
        )
    )
    return deployments


def serve_deployments(
    topics: list[str], profile: str, cron: str | None, topic_cron: str | None, console: Any
) -> None:
    url = ensure_server()
    from prefect import serve

    deployments = build_deployments(topics, profile, cron, topic_cron)
    console.print(
        f"serving {len(deployments)} deployments on {url} "
        f"(topic-pipeline/<topic>, topiclab-suite/all-topics); Ctrl-C stops"
    )
    serve(*deployments)
