"""Orchestration overhead, the cached re-run, and the suite on two workers against one.

    .venv/bin/python benchmarks/bench_orchestration.py                          # defaults below
    .venv/bin/python benchmarks/bench_orchestration.py --cases ridge:quick:3 causal-iv:standard:1 \
        --suite llama,diffusion,causal-iv --suite-profile quick --workers 2

It starts a local Prefect server and the MLflow UI first (the targets are "once the server is
up"). For each case (topic:profile:repeats) it runs the pipeline with every stage recomputed and
takes overhead = pipeline wall time - the stages' own compute time (``stage_seconds`` in
``metrics.json``, measured inside the stage task), then an unchanged re-run that hits the cache.
Then the suite: sequential, then on ``--workers`` processes, every stage recomputed both times,
with the metrics compared. Medians over the repeats; nothing is timed in the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

HOME = Path(tempfile.mkdtemp(prefix="topiclab-bench-"))
os.environ.setdefault("TOPICLAB_HOME", str(HOME))
os.environ.setdefault("TOPICLAB_NO_PROGRESS", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from topiclab.core.environment import configure_environment  # noqa: E402

configure_environment()
TIMING = ("seconds", "per_s", "s_per_token", "speedup")  # wall-clock metrics differ run to run


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def bench_case(topic: str, profile: str, repeats: int, out: Path) -> None:
    from topiclab.flows.pipeline import topic_pipeline

    walls, overheads, cached = [], [], []
    for i in range(repeats):
        seed = [f"seed={i}"]
        wall, result = timed(topic_pipeline, topic, profile, seed, None, str(out), use_cache=False)
        walls.append(wall)
        overheads.append(wall - sum(result["stage_seconds"].values()))
        cached.append(timed(topic_pipeline, topic, profile, seed, None, str(out))[0])
    w, o, c = (statistics.median(x) for x in (walls, overheads, cached))
    print(
        f"{topic}, {profile} ({repeats} repeats, median): pipeline {w:.2f} s, "
        f"stages {w - o:.2f} s, overhead {o:.2f} s; cached re-run {c:.2f} s "
        f"({100 * c / w:.1f} % of the first run)",
        flush=True,
    )


def _metrics(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {
        e["topic"]: {k: v for k, v in e["metrics"].items() if not any(t in k for t in TIMING)}
        for e in summary["topics"]
        if e["status"] == "ok"
    }


def bench_suite(topics: list[str], profile: str, workers: int, out: Path) -> None:
    from topiclab.flows.pipeline import suite

    args = (topics, profile, ["seed=5"], None)
    seq, a = timed(suite, *args, str(out / "sequential"), False)
    par, b = timed(suite, *args, str(out / f"workers{workers}"), False, workers=workers)
    same = "identical" if _metrics(a) == _metrics(b) else "DIFFERENT"
    print(
        f"suite {','.join(topics)}, {profile}: sequential {seq:.1f} s, workers={workers} "
        f"{par:.1f} s ({seq / par:.2f}x); metrics {same}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=["ridge:quick:3", "causal-iv:standard:1"])
    parser.add_argument("--suite", default="llama,diffusion,causal-iv", help="'' to skip")
    parser.add_argument("--suite-profile", default="quick")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from topiclab.app.servers import local_servers

    with local_servers(prefect_port=4277, mlflow_port=5077) as urls:
        os.environ["PREFECT_API_URL"] = f"{urls['prefect']}/api"
        from topiclab.flows.pipeline import topic_pipeline

        out = HOME / "out"
        # Warm-up: imports, MLflow database creation, the flow's registration.
        topic_pipeline("ridge", "quick", ["seed=999"], None, str(out), use_cache=False)
        print(f"load average before: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})")
        for case in args.cases:
            topic, profile, repeats = case.split(":")
            bench_case(topic, profile, int(repeats), out)
        if args.suite:
            bench_suite(args.suite.split(","), args.suite_profile, args.workers, HOME / "suite")
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
