"""Render reports: a Markdown page and a self-contained HTML twin (figures embedded).

render_topic_report(topic, ctx, data, trained, evaluation)  # the default report stage
fill_run_header(report_dir, run_header(fields))              # the run's header, at publish
write_index(out_dir, entries)                                # the suite's index page
md_table(["a", "b"], [[1, 2.5]]), md_records([{"a": 1, "b": 2.5}])   # the one table helper
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import markdown as md

from topiclab.core.cells import claim_counts, claims_cell, seconds_cell
from topiclab.core.files import copy_file, write_text
from topiclab.core.outputs import home_of, read_links
from topiclab.core.reads import project
from topiclab.core.topic import Claim, StageContext, StageResult, verdict

if TYPE_CHECKING:
    from topiclab.core.topic import Topic

CSS = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0;font-size:.92em}
.table-wrap{overflow-x:auto;margin:1em 0;max-width:100%}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3} img{max-width:100%} code,pre{background:#f6f6f6}
pre{padding:.6em;overflow:auto} .pass{color:#176f2c;font-weight:600}
.fail{color:#b3261e;font-weight:600}
.run-header{background:#f6f8fa;border:1px solid #d8dee4;border-radius:6px;padding:.2em .9em}
.run-header p{margin:.5em 0} figure{margin:1.5em 0}
figcaption{color:#444;font-size:.92em;margin-top:.3em}
"""
RUN_HEADER = "<!-- topiclab:run-header -->"  # filled in when the report is published


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.4e}"
    return str(value)


_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_HTML_TAG = re.compile(r"<(?=[A-Za-z/!?])")


def md_cell(value: Any) -> str:
    """One table cell that stays one cell: a line break would end the row and a ``|`` would
    split it, a control character is shown as ``\\xNN``, and ``<tag`` is not passed through as
    HTML into the report (the Markdown renderer keeps raw HTML)."""
    text = fmt(value).replace("\\", "\\\\").replace("|", "\\|").replace("\t", " ")
    text = _LINE_BREAKS.sub(" ", text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _HTML_TAG.sub("&lt;", text)


def md_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; every cell (header included) goes through ``md_cell``."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def md_records(records: Sequence[Mapping[str, Any]]) -> str:
    """A table of dicts with the same keys (the first one's keys are the header)."""
    if not records:
        return ""
    header = list(records[0])
    return md_table(header, [[r[k] for k in header] for r in records])


def csv_to_md(path: Path, max_rows: int = 60) -> str:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return "_(empty table)_"
    body = [[_num(c) for c in r] for r in rows[1 : max_rows + 1]]
    more = (
        f"\n\n_{len(rows) - 1 - max_rows} more rows in {path.name}_"
        if len(rows) > max_rows + 1
        else ""
    )
    return md_table(rows[0], body) + more


def _num(cell: str) -> Any:
    try:
        return float(cell) if re.fullmatch(r"-?\d+\.\d+(e-?\d+)?", cell) else cell
    except ValueError:
        return cell


QUICK_NOTE = (
    "Profile `quick` checks that every code path runs, in seconds; it is too small to confirm "
    "the claims that need Monte-Carlo repetitions or training (marked *not expected*). Run "
    "`--profile standard` for the results."
)


def claims_table(claims: list[Claim], profile: str = "standard") -> str:
    rows = []
    for c in claims:
        shown = verdict(c, profile) + (f" ({c.note})" if c.note else "")
        rows.append([c.id, c.statement, c.value, c.anchor, c.source, shown])
    return md_table(["id", "claim", "this run", "anchor", "source", "verdict"], rows)


def claims_summary(claims: list[Claim], profile: str) -> str:
    """``7/9 claims confirmed`` (and how many were not expected of this profile)."""
    passed = sum(c.passed for c in claims)
    waived = sum(verdict(c, profile) == "not expected" for c in claims)
    text = f"{passed}/{len(claims)} claims confirmed"
    return text + (f", {waived} not expected of profile `{profile}`" if waived else "")


TABLE_MARK = re.compile(r"<!-- table:([\w.-]+) -->")


def place_tables(body: str, tables: dict[str, str], placed: set[str]) -> str:
    """Replace each ``<!-- table:NAME -->`` in a section by that table, so a section shows its
    table in context and the report does not repeat it under "Table: NAME"."""

    def table(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in tables:
            return match.group(0)
        placed.add(name)
        return csv_to_md(Path(tables[name]))

    return TABLE_MARK.sub(table, body)


def _caption(name: str, captions: Mapping[str, str]) -> str:
    """The plugin's caption, or the figure's name as a sentence."""
    text = captions.get(name) or name.replace("_", " ").replace("-", " ").capitalize()
    return md_cell(text.strip()).rstrip(".") + "."


def _namespace(name: str) -> str:
    """``tsls/weak`` -> ``tsls``; ``ring.exact.hq_frac`` -> ``ring.exact`` (dotted names are
    namespaced by all but their last part); ``coverage_tsls`` -> ``coverage``."""
    if "/" in name:
        return name.split("/", 1)[0]
    if "." in name:
        return name.rsplit(".", 1)[0]
    return name.split("_", 1)[0]


def metric_groups(metrics: Mapping[str, float]) -> dict[str, list[tuple[str, float]]]:
    """Metrics by namespace: the part before ``/`` (``tsls/weak``), else before the last ``.``
    or the first ``_`` when several metrics share it (``ring.exact.mmd``, ``ring.exact.swd``;
    ``coverage_tsls``, ``coverage_ols``), else ``other``."""
    names = sorted(metrics)
    heads = [_namespace(n) for n in names]
    groups: dict[str, list[tuple[str, float]]] = {}
    for name, head in zip(names, heads, strict=True):
        shared = "/" in name or (head != name and heads.count(head) > 1)
        groups.setdefault(head if shared else "other", []).append((name, metrics[name]))
    return dict(sorted(groups.items(), key=lambda kv: (kv[0] == "other", kv[0])))


def metrics_markdown(metrics: Mapping[str, float]) -> str:
    """One table; with several namespaces, a first column names each group once."""
    groups = metric_groups(metrics)
    if len(groups) == 1:
        return md_table(["metric", "value"], next(iter(groups.values())))
    rows = [
        [head if i == 0 else "", name, value]
        for head, items in groups.items()
        for i, (name, value) in enumerate(items)
    ]
    return md_table(["group", "metric", "value"], rows)


def topic_markdown(
    topic: Topic,
    ctx: StageContext,
    evaluation: StageResult,
    figure_links: dict[str, str],
    captions: Mapping[str, str] | None = None,
) -> str:
    captions = captions or {}
    parts = [
        f"# {topic.title}",
        RUN_HEADER,
        f"Topic `{topic.key}` · profile `{ctx.profile}` · "
        f"{claims_summary(evaluation.claims, ctx.profile)}",
        QUICK_NOTE if ctx.profile == "quick" else "",
        topic.summary.strip(),
    ]
    claims = claims_table(evaluation.claims, ctx.profile) if evaluation.claims else "_none_"
    parts += ["## Claims", claims]
    if evaluation.metrics:
        parts += ["## Metrics", metrics_markdown(evaluation.metrics)]
    placed: set[str] = set()
    for title, body in evaluation.sections.items():
        parts += [f"## {title}", place_tables(body.strip(), evaluation.tables, placed)]
    for name, path in evaluation.tables.items():
        if name not in placed:
            parts += [f"## Table: {name}", csv_to_md(Path(path))]
    if figure_links:
        parts.append("## Figures")
        parts += [
            f"### {name}\n\n![{name}]({link})\n\n*Figure {i}. {_caption(name, captions)}*"
            for i, (name, link) in enumerate(figure_links.items(), 1)
        ]
    # Less the execution options (workers, threads): the report is reused for any of their
    # values, so it would show another run's; the tracked run's params record them.
    config = json.dumps(project(ctx.config, None), indent=2)
    parts += ["## Configuration", f"```json\n{config}\n```"]
    return "\n\n".join(p for p in parts if p) + "\n"


_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d+\.)\s")


def separate_lists(text: str) -> str:
    """A blank line before a list that follows a paragraph line: Python-Markdown, like the
    original Markdown, reads such a list as more paragraph text. Fenced code is left alone."""
    out: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and out and _starts_list(out[-1], line):
            out.append("")
        out.append(line)
    return "\n".join(out)


def _starts_list(previous: str, line: str) -> bool:
    """``line`` is a list item right under a paragraph line (not a list item, table row or
    indented continuation)."""
    if not _LIST_ITEM.match(line) or not previous.strip() or _LIST_ITEM.match(previous):
        return False
    return not previous.startswith((" ", "\t", "|"))


def markdown_to_html(text: str, title: str, base: Path | None = None) -> str:
    """Markdown -> one HTML file; local images are inlined as data URIs so it travels alone."""
    body = md.markdown(separate_lists(text), extensions=["tables", "fenced_code"])
    if base is not None:

        def inline(match: re.Match[str]) -> str:
            src = base / match.group(1)
            if not src.is_file():
                return match.group(0)
            data = base64.b64encode(src.read_bytes()).decode()
            return f'src="data:image/png;base64,{data}"'

        body = re.sub(r'src="([^":]+\.png)"', inline, body)
    body = _wrap_tables(_figures(body))
    body = body.replace("<td>PASS</td>", '<td class="pass">PASS</td>')
    body = re.sub(r"<td>FAIL( \([^<]*\))?</td>", r'<td class="fail">FAIL\1</td>', body)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def _wrap_tables(body: str) -> str:
    """A wide table scrolls inside its box instead of widening the page."""
    return body.replace("<table>", '<div class="table-wrap"><table>').replace(
        "</table>", "</table></div>"
    )


_FIGURE = re.compile(r"<p>(<img [^>]*>)</p>\s*<p><em>(Figure \d+\..*?)</em></p>", re.S)


def _figures(body: str) -> str:
    """An image followed by its ``*Figure N. ...*`` line becomes a figure with a caption."""
    return _FIGURE.sub(r"<figure>\1<figcaption>\2</figcaption></figure>", body)


def run_header(fields: Mapping[str, Any]) -> str:
    """The run's header (Markdown): when, profile, seed, code version, cache key, links.
    ``fields``: date, profile, seed, version, git, cache_key, cached (list), urls (label ->
    url), home (a relative link to the page of all runs, or "")."""
    git = str(fields.get("git") or "unknown")
    short = git[:10] + ("+dirty" if git.endswith("+dirty") else "") if len(git) >= 40 else git
    facts = [
        f"**Run** {fields.get('date', '')}",
        f"profile `{fields.get('profile')}`",
        f"seed {fields.get('seed')}",
        f"topiclab {fields.get('version', '?')} (git `{short}`)",
        f"cache key `{fields.get('cache_key', '')}`",
    ]
    cached = list(fields.get("cached") or [])
    if cached:
        facts.append(f"stages reused from the cache: {', '.join(cached)}")
    links = [f"[{label}]({url})" for label, url in dict(fields.get("urls") or {}).items()]
    if fields.get("home"):
        links.append(f"[all runs]({fields['home']})")
    return " · ".join(facts) + ("\n\n" + " · ".join(links) if links else "")


def fill_run_header(report_dir: Path, header: str) -> None:
    """Put ``header`` where the report stage left ``RUN_HEADER`` in ``report.md`` and
    ``report.html`` of ``report_dir`` (a published copy: the cached stage stays as it was)."""
    md_path, html_path = report_dir / "report.md", report_dir / "report.html"
    if md_path.exists():
        write_text(md_path, md_path.read_text().replace(RUN_HEADER, header, 1))
    if html_path.exists():
        block = f'<div class="run-header">{md.markdown(header)}</div>'
        write_text(html_path, html_path.read_text().replace(RUN_HEADER, block, 1))


def render_topic_report(
    topic: Topic,
    ctx: StageContext,
    data: StageResult,
    trained: StageResult,
    evaluation: StageResult,
) -> StageResult:
    """Write ``report.md``, ``report.html`` and ``figures/`` into the report stage's folder."""
    figures_dir = ctx.workdir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    links: dict[str, str] = {}
    all_figures = {**data.figures, **trained.figures, **evaluation.figures}
    captions = {**data.captions, **trained.captions, **evaluation.captions}
    for name, path in all_figures.items():
        target = figures_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        copy_file(path, target)
        links[name] = f"figures/{target.name}"
    text = topic_markdown(topic, ctx, evaluation, links, captions)
    report_md = ctx.path("report.md")
    write_text(report_md, text)
    report_html = ctx.path("report.html")
    write_text(report_html, markdown_to_html(text, topic.title, base=ctx.workdir))
    return StageResult(
        files={
            "report.md": str(report_md),
            "report.html": str(report_html),
            "figures": str(figures_dir),
        },
        data={
            "claims_passed": sum(c.passed for c in evaluation.claims),
            "claims_total": len(evaluation.claims),
            "claims_not_expected": sum(
                verdict(c, ctx.profile) == "not expected" for c in evaluation.claims
            ),
        },
    )


def write_index(out_dir: Path, entries: list[dict[str, Any]]) -> Path:
    """The suite's index: one row per topic with its status, claims and report link."""
    rows = []
    for e in entries:
        link = f"[report]({e['topic']}/report.html)" if e.get("report") else "—"
        claims = claims_cell(e)
        rows.append(
            [
                e["topic"],
                e["status"],
                claims,
                seconds_cell(e.get("seconds", 0.0)),
                link,
                e.get("error") or "",
            ]
        )
    # A run under a results folder links back to that folder's page of every run.
    back = "[all runs](../index.html)\n\n" if home_of(out_dir) is not None else ""
    text = (
        "# topiclab results\n\n"
        + back
        + md_table(["topic", "status", "claims confirmed", "seconds", "report", "error"], rows)
        + "\n"
    )
    md_text = text.replace("report.html)", "report.md)").replace("index.html)", "index.md)")
    write_text(out_dir / "index.md", md_text)
    write_text(out_dir / "index.html", markdown_to_html(text, "topiclab results"))
    return out_dir / "index.html"


def read_metrics(path: Path) -> dict[str, Any]:
    """A topic's ``metrics.json``, checked for the fields the index and summary read.

    Raises ``ResultsError`` (one line, naming the file) when it is not JSON or not shaped
    like ``publish_topic`` writes it: a truncated file from a killed copy, or a hand edit.
    """
    from topiclab.core.errors import ResultsError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ResultsError(f"'{path}' is not readable JSON: {reason}") from None
    claims = data.get("claims") if isinstance(data, dict) else None
    ok = (
        isinstance(claims, list)
        and all(isinstance(c, dict) and "id" in c and "passed" in c for c in claims)
        and isinstance(data.get("seconds", 0), int | float)
    )
    if not ok:
        raise ResultsError(
            f"'{path}' is not a topiclab metrics.json: it needs 'claims' "
            "(a list of {id, passed, ...}) and a number 'seconds'"
        )
    return dict(data)


def index_entry(path: Path) -> dict[str, Any]:
    """The index row of a readable ``OUT/<topic>/metrics.json`` (see ``read_metrics``)."""
    data = read_metrics(path)
    claims = data["claims"]
    return {
        "topic": path.parent.name,
        "status": "ok",
        "seconds": float(data.get("seconds", 0.0)),
        **claim_counts(claims, str(data.get("profile", ""))),
        "report": True,
        "cached": list(data.get("cached_stages") or []),
        "profile": data.get("profile", ""),
        "urls": read_links(data)["urls"],  # {"MLflow run": ..., "Prefect flow run": ...}
    }
