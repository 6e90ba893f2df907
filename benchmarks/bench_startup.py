"""Time from ``topiclab run`` starting to its first stage, on a fresh and on a warm home, as a
ratio against another checkout of topiclab measured in the same run.

    git archive main | tar -x -C /tmp/topiclab-main        # the code before a change
    PYTHONPATH=. .venv/bin/python benchmarks/bench_startup.py --reference /tmp/topiclab-main
    PYTHONPATH=. .venv/bin/python benchmarks/bench_startup.py --reference /tmp/topiclab-main \
        --topic ridge causal-iv --workers 2 --repeats 1         # a suite on two processes

Each repeat runs, for each checkout (their order alternates between repeats), the CLI as a
user does (``python -m topiclab run TOPIC --profile quick``, a real subprocess, no Prefect
server running) twice in one new ``TOPICLAB_HOME``: "fresh" (no MLflow or Prefect database
yet: both are created and migrated) and "warm" (the second run: databases there, stages
cached). Start-up is the time from just before the process starts to the first stage's
``topiclab_before_stage`` hook, written by the ``startup_probe`` plugin (this folder). Medians
over the repeats; "ratio" is this checkout's median over the reference's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The environment of a user who set nothing: topiclab puts everything under TOPICLAB_HOME.
UNSET = (
    "PREFECT_API_URL",
    "PREFECT_HOME",
    "PREFECT_LOCAL_STORAGE_PATH",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_RUN_ID",
    "MPLCONFIGDIR",
    "DASK_TEMPORARY_DIRECTORY",
)


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_once(tree: Path, home: Path, args: list[str], name: str) -> tuple[float, float]:
    """(seconds to the first stage, seconds to the end) of one CLI run of ``tree``'s code."""
    probe = home / f"{name}.probe"
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(tree), str(HERE)]),
            "TOPICLAB_HOME": str(home),
            "TOPICLAB_PLUGINS": "startup_probe",
            "TOPICLAB_STARTUP_PROBE": str(probe),
            "TOPICLAB_PREFECT_PORT": str(unused_port()),  # never a developer's `topiclab ui`
            "TOPICLAB_NO_PROGRESS": "1",
        }
    )
    cmd = [sys.executable, "-m", "topiclab", "run", *args, "--out", str(home / name)]
    start = time.time()
    proc = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True)
    end = time.time()
    if proc.returncode != 0 or not probe.exists():
        sys.exit(f"{tree}: {' '.join(cmd[2:])} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return float(probe.read_text()) - start, end - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="a checkout to compare")
    parser.add_argument("--topic", nargs="+", default=["ridge"], help="several: a suite")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--workers", type=int, default=1, help="`run --workers` (a suite)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    trees = {"reference": args.reference.resolve(), "this": ROOT}
    if not (trees["reference"] / "topiclab" / "app" / "cli.py").is_file():
        sys.exit(f"--reference {args.reference}: no topiclab/app/cli.py there")
    times: dict[tuple[str, str], list[float]] = {}
    totals: dict[tuple[str, str], list[float]] = {}
    run_args = [*args.topic, "--profile", args.profile, "--workers", str(args.workers)]
    print(f"load average before: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})", flush=True)
    for i in range(args.repeats):
        for label in list(trees)[:: 1 if i % 2 == 0 else -1]:
            home = Path(tempfile.mkdtemp(prefix="topiclab-startup-"))
            try:
                for kind in ("fresh", "warm"):
                    first, total = run_once(trees[label], home, run_args, kind)
                    times.setdefault((label, kind), []).append(first)
                    totals.setdefault((label, kind), []).append(total)
                    print(f"  {label} {kind}: first stage {first:.2f} s, run {total:.2f} s")
            finally:
                shutil.rmtree(home, ignore_errors=True)
    runs = {(kind, label): statistics.median(totals[(label, kind)]) for label, kind in totals}
    for kind in ("fresh", "warm"):
        ref, this = (statistics.median(times[(label, kind)]) for label in trees)
        print(
            f"{kind} home, {' '.join(run_args)} ({args.repeats} repeats, median): "
            f"first stage after {this:.2f} s, reference {ref:.2f} s, ratio {this / ref:.2f}; "
            f"whole run {runs[(kind, 'this')]:.2f} s, reference {runs[(kind, 'reference')]:.2f} s",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
