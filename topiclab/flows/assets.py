"""The DAG of topics as Prefect assets: each pipeline run materializes its topic's output.

    record_output(registry, ident, run)      # at the end of topic_pipeline

A topic's output is the asset ``topiclab://topics/<topic>/<profile>``; a topic that consumes
others declares their assets as ``asset_deps``, so the Prefect UI (Assets) draws the same DAG
as ``topiclab graph``, and each materialization event carries the stage cache key and the
tracker links of the run that made it. Prefect records this as events
(``prefect.asset.materialization.succeeded``, the upstream assets as related resources).
"""

from __future__ import annotations

from typing import Any

from prefect.assets import Asset, AssetProperties, add_asset_metadata, materialize
from prefect.cache_policies import NO_CACHE

from topiclab.core.dag import Identity
from topiclab.core.hookspecs import RunInfo
from topiclab.core.registry import Registry

SCHEME = "topiclab"


def asset_key(topic: str, profile: str) -> str:
    return f"{SCHEME}://topics/{topic}/{profile}"


def _mark(key: str, metadata: dict[str, Any]) -> None:
    """The task body: the stages have already written the output; say which version it is."""
    add_asset_metadata(key, metadata)


def record_output(registry: Registry, ident: Identity, run: RunInfo) -> None:
    """Materialize ``ident``'s output asset in the running flow, depending on its upstream
    topics' assets (reused or run in this flow, they were materialized by their own run)."""
    topic = registry.topic(ident.topic)
    asset = Asset(
        key=asset_key(ident.topic, ident.profile),
        properties=AssetProperties(
            name=f"{ident.topic} ({ident.profile})", description=topic.title
        ),
    )
    deps: list[Asset | str] = [asset_key(up.topic, up.profile) for up in ident.upstream.values()]
    task = materialize(
        asset,
        by=SCHEME,
        name="topic-output",
        task_run_name=f"{ident.topic}.output",
        cache_policy=NO_CACHE,
        persist_result=False,
    )(_mark).with_options(asset_deps=deps)
    metadata = {"cache_key": ident.cache_key, "links": run["links"], "upstream": run["upstream"]}
    task(asset.key, metadata)
