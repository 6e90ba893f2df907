"""The results home: one page that lists every run under a results folder, newest first.

    write_home(Path("results"))      # results/index.html (filterable by topic) and index.md
    home_of(Path("results/20261129-092528"))   # -> results, the folder whose home lists it

``topiclab run`` without ``--out`` writes ``results/<timestamp>/<topic>/metrics.json``; each
finished topic run rebuilds ``results/index.html`` from all of them, so the page accumulates
across invocations (the CLI, the Prefect UI's runs under ``$TOPICLAB_HOME/results``, and
``topiclab report``). Links are relative for reports and absolute for the tracker pages.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

from topiclab.core.cells import claim_counts, seconds_cell
from topiclab.core.errors import ResultsError
from topiclab.core.files import write_text
from topiclab.core.outputs import home_of, read_links
from topiclab.core.report import CSS, md_table, read_metrics

COLUMNS = ("date", "topic", "profile", "seed", "git", "claims", "failed claims", "seconds")
HOME_CSS = """
.scroll{overflow-x:auto} body{max-width:1200px} select{font-size:1em;margin-left:.4em}
td.num{text-align:right} tr.failed td{background:#fdf1f0}
"""
# Hides the rows of other topics; the page still works (all rows shown) without JavaScript.
FILTER_JS = """
document.getElementById('topic').addEventListener('change', function (e) {
  document.querySelectorAll('tbody tr').forEach(function (tr) {
    tr.hidden = e.target.value !== '' && tr.dataset.topic !== e.target.value;
  });
});
"""


def home_rows(root: Path) -> list[dict[str, Any]]:
    """One row per ``root/<run>/<topic>/metrics.json``, newest first."""
    rows = []
    for path in root.glob("*/*/metrics.json"):
        if path.parent.parent.is_symlink():  # results/latest: the same run again
            continue
        rows.append(_row(root, path))
    return sorted(rows, key=lambda r: (r["finished"], r["run"]), reverse=True)


def _row(root: Path, path: Path) -> dict[str, Any]:
    run = path.parent.parent.name
    row: dict[str, Any] = {"run": run, "topic": path.parent.name, "error": ""}
    row["report"] = f"{run}/{path.parent.name}/report.html"
    try:
        data = read_metrics(path)
    except ResultsError as exc:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(path.stat().st_mtime))
        return {**row, "finished": stamp, "error": str(exc), "urls": {}}
    claims = data["claims"]
    profile = str(data.get("profile", ""))
    # A claim a profile is not expected to confirm (quick: too small) does not paint it red.
    counts = claim_counts(claims, profile)
    finished = data.get("finished_at") or time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.localtime(path.stat().st_mtime)
    )
    return {
        **row,
        "topic": str(data.get("topic") or row["topic"]),
        "finished": str(finished),
        "profile": profile,
        "seed": data.get("seed", ""),
        "git": _short_git(str(data.get("git", ""))),
        "passed": counts["claims_passed"],
        "total": counts["claims_total"],
        "failed": counts["failed_claims"],
        "waived": counts["claims_not_expected"],
        "seconds": float(data.get("seconds", 0.0)),
        "cached": len(data.get("cached_stages") or []),
        "urls": read_links(data)["urls"],
    }


def _short_git(rev: str) -> str:
    dirty = rev.endswith("+dirty")
    rev = rev.removesuffix("+dirty")
    return (rev[:10] if len(rev) == 40 else rev) + ("+dirty" if dirty else "")


def _cells(row: dict[str, Any]) -> list[Any]:
    """The values of ``COLUMNS`` for one row (an unreadable file shows its error instead)."""
    date = row["finished"].replace("T", " ")[:19]  # the offset is the machine's own
    if row["error"]:
        return [date, row["topic"], "", "", "", "unreadable", row["error"], ""]
    claims = f"{row['passed']}/{row['total']}"
    claims += f", {row['waived']} not expected" if row["waived"] else ""
    claims += " (cached)" if row["cached"] == 4 else ""
    failed = ", ".join(row["failed"]) or "—"
    return [date, row["topic"], row["profile"], row["seed"], row["git"], claims, failed,
            seconds_cell(row["seconds"])]  # fmt: skip


def _links_html(row: dict[str, Any]) -> str:
    links = [f'<a href="{html.escape(row["report"])}">report</a>']
    links += [
        f'<a href="{html.escape(url)}">{html.escape(label)}</a>'
        for label, url in sorted(row["urls"].items())
    ]
    return " · ".join(links)


def home_html(rows: list[dict[str, Any]], root: Path) -> str:
    topics = sorted({r["topic"] for r in rows})
    options = "".join(f"<option>{html.escape(t)}</option>" for t in topics)
    head = "".join(f"<th>{c}</th>" for c in (*COLUMNS, "links"))
    body = []
    for row in rows:
        failed = row["error"] or row.get("failed")
        cells = "".join(
            f"<td{' class=num' if i in (3, 7) else ''}>{html.escape(str(v))}</td>"
            for i, v in enumerate(_cells(row))
        )
        body.append(
            f'<tr data-topic="{html.escape(row["topic"])}"{" class=failed" if failed else ""}>'
            f"{cells}<td>{_links_html(row)}</td></tr>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>topiclab results</title>"
        f"<style>{CSS}{HOME_CSS}</style></head><body><h1>topiclab results</h1>"
        f"<p>{len(rows)} topic run{'' if len(rows) == 1 else 's'} under "
        f"<code>{html.escape(str(root))}</code>, newest first. "
        "Rows in red have failed claims (those a profile is not expected to confirm are counted "
        "apart: quick is too small for the Monte-Carlo and training claims)."
        f"</p><label>topic<select id='topic'><option value=''>all</option>{options}</select>"
        f"</label><div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>"
        f"{''.join(body)}</tbody></table></div><script>{FILTER_JS}</script></body></html>\n"
    )


def home_markdown(rows: list[dict[str, Any]]) -> str:
    table = [
        [*_cells(r), " · ".join([f"[report]({r['report'].replace('.html', '.md')})"]
                                + [f"[{k}]({v})" for k, v in sorted(r["urls"].items())])]
        for r in rows
    ]  # fmt: skip
    return "# topiclab results\n\nNewest first.\n\n" + md_table([*COLUMNS, "links"], table) + "\n"


def write_home(root: Path) -> Path:
    """Rebuild ``root/index.html`` and ``root/index.md``; return the HTML's path. Each file is
    replaced whole, so two runs finishing at once never leave a half-written page."""
    rows = home_rows(root)
    for name, text in (("index.html", home_html(rows, root)), ("index.md", home_markdown(rows))):
        write_text(root / name, text)
    return root / "index.html"


def update_home(run_dir: Path) -> Path | None:
    """Rebuild the home of the results folder ``run_dir`` belongs to, if it has one."""
    root = home_of(run_dir)
    return write_home(root) if root is not None else None
