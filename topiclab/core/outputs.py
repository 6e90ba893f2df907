"""The output contract: ``OUT/<topic>/{metrics.json, report.html, report.md, figures/}``.

``metrics.json`` = ``{"topic", "profile", "metrics": {name: number}, "claims": [{"id",
"statement", "value", "anchor", "source", "passed", "uses", "note", "expected_in"}],
"links": {"runs": {tracker: run id}, "urls": {label: url}}, "seconds", ...}``. ``read_links``
also reads files written before ``links`` existed (``<tracker>_run_id`` and ``<tracker>_url``).
Without ``--out``, runs go to ``results/<timestamp>/`` and ``results/latest`` points there.
A number that is NaN or infinite is written as ``null``: the file is always valid JSON (the
claims that used it have already failed, see ``core.topic.check_claims``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from topiclab.core.errors import ConfigError
from topiclab.core.files import copy_file, copy_tree, write_text
from topiclab.core.hookspecs import Links
from topiclab.core.topic import StageResult, check_claims

TRACKED_LIBRARIES = (
    "topiclab",
    "torch",
    "prefect",
    "mlflow",
    "pluggy",
    "pydantic",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "dowhy",
)


def resolve_out_dir(out: str | Path | None, results_root: Path = Path("results")) -> Path:
    """``--out DIR`` as given, or a new ``results/<timestamp>`` with ``results/latest`` -> it."""
    if out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--out '{path}' exists and is not a folder")
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = results_root / stamp
    n = 1
    while True:  # mkdir is the test: two runs starting in one second (two workers) both win
        try:
            path.mkdir(parents=True)
            break
        except FileExistsError:
            n += 1
            path = results_root / f"{stamp}-{n}"
    latest = results_root / "latest"
    tmp = results_root / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(path.name)
    tmp.replace(latest)  # atomic: readers never see a missing 'latest'
    return path.resolve()


def home_of(run_dir: Path) -> Path | None:
    """The results folder whose page of all runs (``core.home``) lists ``run_dir``: its
    parent, when ``resolve_out_dir`` made it (a ``latest`` link is there). ``--out DIR`` runs
    have none: writing an index into an arbitrary parent folder would surprise."""
    parent = run_dir.resolve().parent
    return parent if (parent / "latest").is_symlink() else None


def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision() -> str:
    """The commit of the source tree topiclab runs from, with ``+dirty`` for local changes."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev}+dirty" if dirty else rev


def finite_json(value: Any) -> Any:
    """``value`` with every NaN/inf float replaced by None, recursively (dicts, lists)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def dumps_strict(payload: Any) -> str:
    """JSON that any parser reads: non-finite numbers become null, and ``allow_nan=False``
    proves none is left (Python's default would write the invalid token ``NaN``)."""
    return json.dumps(finite_json(payload), indent=2, default=str, allow_nan=False)


def publish_topic(
    out_dir: Path,
    topic: str,
    profile: str,
    evaluation: StageResult,
    report: StageResult,
    links: Links,
    seconds: float,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Copy the report into ``out_dir/<topic>/`` and write ``metrics.json``; return its path."""
    target = out_dir / topic
    target.mkdir(parents=True, exist_ok=True)
    for name in ("report.html", "report.md"):
        if name in report.files:
            copy_file(report.files[name], target / name)
    if "figures" in report.files:
        copy_tree(report.files["figures"], target / "figures")
    finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _fill_header(target, profile, links, finished, extra or {})
    payload: dict[str, Any] = {
        "topic": topic,
        "profile": profile,
        "metrics": evaluation.metrics,
        "claims": [c.model_dump() for c in check_claims(evaluation.claims, evaluation.metrics)],
        "links": links,
        "seconds": round(seconds, 3),
        "finished_at": finished,
        **(extra or {}),
    }
    return write_text(target / "metrics.json", dumps_strict(payload))


def _fill_header(
    target: Path, profile: str, links: Links, finished: str, extra: dict[str, Any]
) -> None:
    """The published report's header: this run's date, seed, code, cache key and links."""
    from topiclab.core.report import fill_run_header, run_header

    fields = {
        "date": finished[:19].replace("T", " "),
        "profile": profile,
        "seed": extra.get("seed"),
        "version": dict(extra.get("versions") or {}).get("topiclab", "?"),
        "git": extra.get("git", ""),
        "cache_key": extra.get("cache_key", ""),
        "cached": extra.get("cached_stages") or [],
        "urls": links.get("urls", {}),
        "home": "../../index.html" if home_of(target.parent) else "",
    }
    fill_run_header(target, run_header(fields))


def read_links(data: dict[str, Any]) -> Links:
    """The tracker links of a ``metrics.json`` payload, old layout included: before ``links``,
    a tracker wrote ``<name>_run_id`` and ``<name>_url`` at the top level."""
    found = data.get("links")
    if isinstance(found, dict):
        return {"runs": dict(found.get("runs") or {}), "urls": dict(found.get("urls") or {})}
    links: Links = {"runs": {}, "urls": {}}
    for key, value in data.items():
        if isinstance(value, str) and value and key.endswith("_run_id"):
            links["runs"][key.removesuffix("_run_id")] = value
        elif isinstance(value, str) and value and key.endswith("_url"):
            links["urls"][f"{key.removesuffix('_url')} run"] = value
    return links
