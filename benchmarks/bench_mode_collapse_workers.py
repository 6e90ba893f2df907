"""mode-collapse with its fits in one process and in worker processes: the time of the four
stages (``run_direct``: no Prefect, no tracking) and whether every number is the same.

    python benchmarks/bench_mode_collapse_workers.py                  # quick, workers 2 then 1
    python benchmarks/bench_mode_collapse_workers.py --profile standard --workers 2 1

Wall seconds of each run (the machine's load changes them: run it in the timing queue);
"identical" compares the evaluate stage's metrics and the run records less their seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from topiclab.core.stages import run_direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1])
    args = parser.parse_args()
    seen: dict[int, tuple[dict, list]] = {}
    for workers in args.workers:
        root = Path(tempfile.mkdtemp(prefix="mc-workers-"))
        start = time.perf_counter()
        out = run_direct("mode-collapse", args.profile, [f"workers={workers}"], root=root)
        took = time.perf_counter() - start
        runs = [{k: v for k, v in r.items() if k != "seconds"} for r in out["train"].data["runs"]]
        seen[workers] = (out["evaluate"].metrics, runs)
        print(f"workers={workers}: {took:.1f} s, {len(runs)} runs", flush=True)
    first = next(iter(seen.values()))
    print("identical:", all(v == first for v in seen.values()))


if __name__ == "__main__":  # a worker process imports this file again: run nothing then
    main()
