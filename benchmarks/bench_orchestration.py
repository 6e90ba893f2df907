"""Orchestration overhead: one pipeline under Prefect + MLflow vs the four stage functions.

    .venv/bin/python benchmarks/bench_orchestration.py                 # ridge, quick, 3 repeats
    .venv/bin/python benchmarks/bench_orchestration.py --topic diffusion --repeats 1

It starts a local Prefect server first (the overhead target is "once the server is up"), runs
the stages directly (no Prefect, no tracking), then the pipeline with the cache refreshed, then
an unchanged re-run that hits the cache. It prints seconds and ratios; nothing is timed in
the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

HOME = Path(tempfile.mkdtemp(prefix="topiclab-bench-"))
os.environ.setdefault("TOPICLAB_HOME", str(HOME))
os.environ.setdefault("TOPICLAB_NO_PROGRESS", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from topiclab.core.environment import configure_environment  # noqa: E402

configure_environment()


def timed(fn, *args, **kwargs) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default="ridge")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from topiclab.app.servers import local_servers
    from topiclab.core.stages import run_direct

    with local_servers(prefect_port=4277, mlflow_port=5077) as urls:
        os.environ["PREFECT_API_URL"] = f"{urls['prefect']}/api"
        from topiclab.flows.pipeline import topic_pipeline

        out = HOME / "out"
        # Warm-up: imports, MLflow database creation, the flow's registration.
        topic_pipeline(args.topic, args.profile, ["seed=999"], None, str(out), use_cache=False)
        direct, first, cached = [], [], []
        for i in range(args.repeats):
            seed = [f"seed={i}"]
            direct.append(timed(run_direct, args.topic, args.profile, seed, HOME / f"direct{i}")[0])
            first.append(
                timed(
                    topic_pipeline, args.topic, args.profile, seed, None, str(out), use_cache=False
                )[0]
            )
            cached.append(timed(topic_pipeline, args.topic, args.profile, seed, None, str(out))[0])

    d, f, c = (statistics.median(x) for x in (direct, first, cached))
    print(
        f"topic={args.topic} profile={args.profile} repeats={args.repeats} "
        f"(median seconds; Prefect server up)"
    )
    print(f"  stage functions called directly : {d:8.2f} s")
    print(f"  pipeline, Prefect + MLflow      : {f:8.2f} s")
    print(f"  orchestration overhead          : {f - d:8.2f} s   (ratio {f / d:.2f}x)")
    print(f"  cached re-run                   : {c:8.2f} s   ({100 * c / f:.1f}% of the first run)")


if __name__ == "__main__":
    main()
