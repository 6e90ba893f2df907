"""The end of a run: index rows from ``metrics.json`` files, the index, the terminal summary.

entries = entries_from(out_dir, ["ridge"], started=t0)  # missing or older than t0: failed
finish_run(console, out_dir, ["ridge"], t0, log_path)   # index.html + summary + links
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from topiclab.core.cells import claims_cell, seconds_cell
from topiclab.core.environment import default_tracking_uri
from topiclab.core.secrets import public_url


def print_summary(
    out: Console, entries: list[dict[str, Any]], out_dir: Path, log: Path | None
) -> None:
    """The summary table (failed claims named), where things are, and deep links last."""
    table = Table(
        "topic",
        "status",
        "claims",
        "failed claims",
        "seconds",
        "cached stages",
        title="run summary",
    )
    # The topic names the row and "5/9, 4 not expected" reads as one: neither is cut or
    # broken at 80 columns ("causal-r…"); the failed claims and cached stages wrap instead.
    table.columns[0].no_wrap = table.columns[2].no_wrap = True
    table.columns[0].min_width = max((len(e["topic"]) for e in entries), default=5)
    for e in entries:
        ok = e["status"] == "ok"
        table.add_row(
            e["topic"],
            "[green]ok[/green]" if ok else f"[red]{e['status']}[/red]",
            claims_cell(e) if ok else "—",
            ", ".join(e.get("failed_claims", [])) or "—",
            seconds_cell(e.get("seconds", 0)),
            ", ".join(e.get("cached", [])) or "—",
        )
    out.print(table)
    out.print(f"results:  {out_dir}", soft_wrap=True)  # a path to copy: one line, however long
    if log is not None:
        out.print(f"log:      {log}", soft_wrap=True)
    out.print(
        f"tracking: {public_url(os.environ.get('MLFLOW_TRACKING_URI', default_tracking_uri()))}",
        soft_wrap=True,
    )
    out.print(f"UIs:      topiclab ui  ({ui_links()})", soft_wrap=True)
    index = out_dir / "index.html"
    if index.exists():
        out.print(f"index:    {index.as_uri()}", soft_wrap=True)
    from topiclab.core.outputs import home_of

    home = home_of(out_dir)
    if home is not None and (home / "index.html").exists():
        out.print(f"all runs: {(home / 'index.html').as_uri()}", soft_wrap=True)
    for e in entries:  # deep links last, where the eye lands
        if e["status"] == "ok":
            out.print(
                f"{e['topic']}: {(out_dir / e['topic'] / 'report.html').as_uri()}", soft_wrap=True
            )
            for name, url in e.get("urls", {}).items():
                out.print(f"{e['topic']} {name}: {url}", soft_wrap=True)


def entries_from(
    out_dir: Path, topics: list[str], started: float | None = None, strict: bool = False
) -> list[dict[str, Any]]:
    """Index rows. A topic of this run (``started`` set) whose metrics.json is missing or older
    than the run failed; a corrupt file is a row of its own (or, ``strict``, an error)."""
    from topiclab.core.errors import ResultsError
    from topiclab.core.report import index_entry

    entries: list[dict[str, Any]] = []
    for key in topics:
        path = out_dir / key / "metrics.json"
        if not path.exists() or (started is not None and path.stat().st_mtime < started):
            entries.append({"topic": key, "status": "failed"})
            continue
        try:
            entries.append(index_entry(path))
        except ResultsError as exc:
            if strict:
                raise
            entries.append({"topic": key, "status": "unreadable", "error": str(exc)})
    return entries


def ui_links() -> str:
    """Where ``topiclab ui`` serves this home: as it recorded, else where it would."""
    from topiclab.app.prefect_api import ui_port
    from topiclab.core.uis import mlflow_ui_base, running_ui

    prefect = running_ui().get("prefect") or f"http://127.0.0.1:{ui_port()}"
    return f"Prefect {prefect}, MLflow {public_url(mlflow_ui_base())}"


def finish_run(out: Console, target: Path, keys: list[str], started: float, log: Path) -> None:
    """Rebuild the index (also after a failure: it must not show an old verdict) and print
    the summary. Other topics in the folder are listed too; a corrupt one does not fail us."""
    from topiclab.core.home import update_home
    from topiclab.core.report import write_index

    others = sorted({p.parent.name for p in target.glob("*/metrics.json")} - set(keys))
    entries = entries_from(target, keys, started)
    write_index(target, entries + entries_from(target, others))
    update_home(target)  # the flow did too; again, so that a failed run's page is current
    print_summary(out, entries, target, log)
