"""Whether two runs of a topic printed the same numbers: ``metrics.json``'s metrics and claims
and every CSV table of the evaluate stage (less a ``seconds`` column), compared exactly.

    D=$(mktemp -d)
    TOPICLAB_HOME=$D/home topiclab run mode-collapse --out $D/out     # and so for run E
    python benchmarks/same_results.py mode-collapse $D $E

Each run folder holds ``out/`` (``--out``) and ``home/`` (its ``TOPICLAB_HOME``). Made to
show that a change of speed (mode-collapse's ``workers``) left every number as it was; the
stage seconds are printed beside. Exits 1 if anything differs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any


def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out |= flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


def load(topic: str, run: Path) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """The run's metrics.json and its evaluate stage's tables (without ``seconds``)."""
    summary = json.loads((run / "out" / topic / "metrics.json").read_text())
    evaluate = run / "home" / "work" / topic / summary["stage_keys"]["evaluate"] / "evaluate"
    tables = {}
    for path in sorted(evaluate.glob("*.csv")):
        with path.open() as fh:
            tables[path.name] = [
                {k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)
            ]
    return summary, tables


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topic")
    parser.add_argument("runs", nargs=2, type=Path, help="two run folders (out/, home/)")
    args = parser.parse_args()
    (a, tables_a), (b, tables_b) = (load(args.topic, r) for r in args.runs)
    for name, run in zip("AB", (a, b), strict=True):
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in run["stage_seconds"].items())
        print(f"{name}: git {run['git'][:7]}, topic {run['seconds']:.1f} s ({stages})")
    ma, mb = flat(a["metrics"]), flat(b["metrics"])
    differ = [k for k in sorted(ma.keys() | mb.keys()) if ma.get(k) != mb.get(k)]
    print(f"metrics: {len(ma)} and {len(mb)}, {len(differ)} differ")
    for key in differ[:20]:
        print(f"  {key}: {ma.get(key)} != {mb.get(key)}")
    same_claims = a["claims"] == b["claims"]
    print(f"claims: {len(a['claims'])}, {'identical' if same_claims else 'DIFFERENT'}")
    same_tables = True
    for name in sorted(tables_a.keys() | tables_b.keys()):
        same = tables_a.get(name) == tables_b.get(name)
        same_tables &= same
        rows = len(tables_a.get(name, []))
        print(f"table {name}: {rows} rows, {'identical' if same else 'DIFFERENT'}")
    return 0 if not differ and same_claims and same_tables else 1


if __name__ == "__main__":
    sys.exit(main())
