"""Run one stage of a topic in this process: the piece shared by the flow and direct calls.

    from topiclab.core.stages import run_direct
    results = run_direct("diffusion", "quick", overrides=["seed=1"], root=Path("/tmp/w"))

Stage folders are content-addressed (topic, config and code fingerprint), so an unchanged
re-run finds its earlier outputs in the same place and Prefect's cache can reuse them.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from topiclab.core.config import resolve_config
from topiclab.core.console import rich_progress
from topiclab.core.registry import get_registry
from topiclab.core.topic import STAGES, StageContext, StageResult

DONE_MARKER = ".done.json"


def config_hash(topic_key: str, config: dict[str, Any], fingerprint: str, profile: str = "") -> str:
    """The stage folders' key. The profile is in it because the report states it."""
    blob = json.dumps(
        {"topic": topic_key, "profile": profile, "config": config, "code": fingerprint},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def work_root() -> Path:
    """Where stage outputs live: ``$TOPICLAB_HOME/work`` (default ``./.topiclab/work``)."""
    import os

    home = Path(os.environ.get("TOPICLAB_HOME", ".topiclab")).resolve()
    return home / "work"


def stage_dir(root: Path, topic_key: str, chash: str, stage: str) -> Path:
    return root / topic_key / chash / stage


def seed_everything(seed: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def execute_stage(
    topic_key: str,
    stage: str,
    profile: str,
    config: dict[str, Any],
    workdir: Path,
    upstream: list[StageResult],
    run: dict[str, Any] | None = None,
) -> StageResult:
    """Build the registry of this process, run ``stage`` and mark its folder as done."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage '{stage}'; choose from: {', '.join(STAGES)}")
    registry = get_registry()
    topic = registry.topic(topic_key)
    cfg = topic.Config.model_validate(config)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / DONE_MARKER).unlink(missing_ok=True)

    def sink(metrics: dict[str, float], step: int | None, child: str | None) -> None:
        if run is not None:
            registry.hook.topiclab_log_metrics(run=run, metrics=metrics, step=step, child=child)

    ctx = StageContext(
        topic=topic_key,
        profile=profile,
        config=cfg,
        workdir=workdir,
        stage=stage,
        registry_factory=get_registry,
        metrics_sink=sink,
        progress_factory=rich_progress,
    )
    # Each stage reseeds from the config, so a resumed run computes what an unbroken one does.
    seed_everything(cfg.seed + STAGES.index(stage))
    result: StageResult = getattr(topic, stage)(ctx, *upstream)
    (workdir / DONE_MARKER).write_text(result.model_dump_json())
    return result


def run_direct(
    topic_key: str,
    profile: str = "quick",
    overrides: list[str] | None = None,
    root: Path | None = None,
) -> dict[str, StageResult]:
    """The four stages as plain calls, no Prefect and no tracking (benchmarks, debugging)."""
    registry = get_registry()
    cfg = resolve_config(registry.topics[topic_key], profile, overrides=overrides)
    config = cfg.model_dump(mode="json")
    chash = config_hash(topic_key, config, registry.fingerprint(topic_key, config), profile)
    root = root or work_root()
    results: dict[str, StageResult] = {}
    for stage in STAGES:
        upstream = [results[s] for s in STAGES[: STAGES.index(stage)]]
        workdir = stage_dir(root, topic_key, chash, stage)
        results[stage] = execute_stage(topic_key, stage, profile, config, workdir, upstream)
    return results
