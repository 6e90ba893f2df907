"""Report rendering: claims table, sections, tables, embedded figures, the index page."""

import json
from pathlib import Path

import matplotlib.pyplot as plt

from topiclab.core.outputs import resolve_out_dir
from topiclab.core.report import (
    index_entry,
    markdown_to_html,
    md_records,
    md_table,
    render_topic_report,
    write_index,
)
from topiclab.core.topic import Claim, StageContext, StageResult, Topic, TopicConfig


class Tiny(Topic):
    key = "tiny"
    title = "A tiny topic"
    summary = "What it is about."

    def generate(self, ctx):
        return StageResult()

    def train(self, ctx, data):
        return StageResult()

    def evaluate(self, ctx, data, trained):
        return StageResult()


def context(tmp_path: Path) -> StageContext:
    return StageContext(
        topic="tiny",
        profile="quick",
        config=TopicConfig(seed=3),
        workdir=tmp_path / "report",
        stage="report",
        registry_factory=lambda: None,
    )  # type: ignore[arg-type,return-value]


def line_png(folder: Path) -> Path:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = folder / "line.png"
    fig.savefig(png)
    plt.close(fig)
    return png


def test_report_has_claims_sections_tables_and_inlined_figures(tmp_path):
    png = line_png(tmp_path)
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,0.123456789\n")
    evaluation = StageResult(
        metrics={"loss": 0.5},
        claims=[
            Claim(id="ok", statement="holds", value=1.0, anchor="> 0", passed=True),
            Claim(id="no", statement="fails", value="x|y", anchor="y", passed=False),
        ],
        sections={"Anatomy": "Some **markdown**."},
        tables={"numbers": str(table)},
        figures={"a line": str(png)},
    )
    ctx = context(tmp_path)
    ctx.workdir.mkdir()
    result = render_topic_report(Tiny(), ctx, StageResult(), StageResult(), evaluation)
    md = Path(result.files["report.md"]).read_text()
    assert "1/2 claims confirmed" in md and "| no | fails | x\\|y |" in md
    assert "## Anatomy" in md and "0.1235" in md and "![a line](figures/a-line.png)" in md
    assert '"seed": 3' in md
    html = Path(result.files["report.html"]).read_text()
    assert 'src="data:image/png;base64,' in html and 'class="fail"' in html
    assert "<table>" in html


def test_index_links_each_topic(tmp_path):
    write_index(
        tmp_path,
        [
            {
                "topic": "a",
                "status": "ok",
                "claims_passed": 2,
                "claims_total": 3,
                "seconds": 1.0,
                "report": True,
            },
            {"topic": "b", "status": "failed", "error": "RuntimeError: boom"},
        ],
    )
    assert "[report](a/report.md)" in (tmp_path / "index.md").read_text()
    html = (tmp_path / "index.html").read_text()
    assert 'href="a/report.html"' in html and "RuntimeError: boom" in html


def test_index_shows_seconds_with_one_decimal_like_the_results_home(tmp_path):
    entries = [
        {"topic": t, "status": "ok", "seconds": s} for t, s in (("a", 13.0912), ("b", 3.4471))
    ]
    write_index(tmp_path, entries)
    rows = _cells((tmp_path / "index.md").read_text().split("\n\n")[-1].strip())
    assert [row[3] for row in rows[2:]] == ["13.1", "3.4"]


def test_md_table_escapes_pipes():
    assert "a\\|b" in md_table(["x"], [["a|b"]])


def _cells(table: str) -> list[list[str]]:
    """The cells of each row as the Markdown renderer splits them (on unescaped pipes)."""
    import re

    rows = table.splitlines()
    return [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]


def test_md_cells_stay_cells_whatever_the_value():
    nasty = ["a\r\nb", "c\rd", "e\nf", "tab\there", "bell\x07", "esc\x1b[31m", "x\\|y", "<b>hi"]
    table = md_table(["value", "n"], [[v, i] for i, v in enumerate(nasty)])
    lines = table.splitlines()
    assert len(lines) == 2 + len(nasty)  # no value broke a row
    assert all(len(cells) == 2 for cells in _cells(table))  # and none split one
    assert "\x07" not in table and "\x1b" not in table and "\r" not in table
    assert "bell\\x07" in table
    html = markdown_to_html(table, "t")
    assert "<b>hi" not in html and "&lt;b" in html
    assert html.count("<tr>") == 1 + len(nasty)


def test_md_records_is_md_table_of_dicts():
    rows = [{"a": 1, "b": "x|y"}, {"a": 2.5, "b": "z"}]
    assert md_records(rows) == md_table(["a", "b"], [[1, "x|y"], [2.5, "z"]])
    assert md_records([]) == ""


def test_quick_report_does_not_paint_claims_it_cannot_confirm_red(tmp_path):
    from topiclab.core.report import QUICK_NOTE, claims_summary
    from topiclab.core.topic import verdict

    paper = Claim(
        id="paper",
        statement="needs many repetitions",
        value=0.5,
        anchor="0.93-0.97",
        expected_in=["standard", "full"],
        passed=False,
    )
    code = Claim(id="code", statement="holds at any size", value=1.0, anchor="1", passed=False)
    assert verdict(paper, "quick") == "not expected" and verdict(paper, "standard") == "FAIL"
    assert verdict(code, "quick") == "FAIL"
    assert claims_summary([paper, code], "quick") == (
        "0/2 claims confirmed, 1 not expected of profile `quick`"
    )
    ctx = StageContext(
        topic="tiny",
        profile="quick",
        config=TopicConfig(),
        workdir=tmp_path,
        stage="report",
        registry_factory=lambda: None,
    )
    result = Tiny().report(ctx, StageResult(), StageResult(), StageResult(claims=[paper, code]))
    text = Path(result.files["report.md"]).read_text()
    assert QUICK_NOTE in text and "| not expected |" in text
    html = Path(result.files["report.html"]).read_text()
    assert html.count('class="fail"') == 1  # only the claim quick is expected to confirm
    assert result.data["claims_not_expected"] == 1


def test_a_section_places_its_table_once_and_lists_render_as_lists(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text('component,shape\nwq,"[8, 8]"\n')
    evaluation = StageResult(
        tables={"shapes": str(table), "other": str(table)},
        sections={"Anatomy": "The model.\n- one point\n- another\n\n<!-- table:shapes -->"},
    )
    ctx = StageContext(
        topic="tiny",
        profile="standard",
        config=TopicConfig(),
        workdir=tmp_path,
        stage="report",
        registry_factory=lambda: None,
    )
    result = Tiny().report(ctx, StageResult(), StageResult(), evaluation)
    text = Path(result.files["report.md"]).read_text()
    anatomy = text.split("## Anatomy", 1)[1].split("\n## ", 1)[0]
    assert "| wq | [8, 8] |" in anatomy and text.count("| wq | [8, 8] |") == 2  # + "other"
    assert "## Table: shapes" not in text and "## Table: other" in text
    html = Path(result.files["report.html"]).read_text()
    assert "<li>one point</li>" in html and "<li>another</li>" in html


def test_report_figures_have_captions_metrics_are_grouped_tables_scroll(tmp_path):
    png = line_png(tmp_path)
    table = tmp_path / "wide.csv"
    table.write_text(",".join(f"column_{i}" for i in range(30)) + "\n" + ",".join("1" * 30) + "\n")
    metrics = {"coverage_tsls": 0.9, "coverage_ols": 0.1, "tsls/weak": 2.0, "sieve_mse": 0.3}
    metrics |= {"ring.exact.hq_frac": 1.0, "ring.exact.modes_1pct": 8, "ring.ddim10.mmd": 0.2}
    evaluation = StageResult(
        metrics=metrics,
        tables={"wide": str(table)},
        figures={"a line": str(png), "loss_curve": str(png)},
        captions={"a line": "A line that falls from 1 to 0"},
    )
    ctx = context(tmp_path)
    ctx.workdir.mkdir()
    result = render_topic_report(Tiny(), ctx, StageResult(), StageResult(), evaluation)
    md = Path(result.files["report.md"]).read_text()
    assert "*Figure 1. A line that falls from 1 to 0.*" in md
    assert "*Figure 2. Loss curve.*" in md  # no caption given: the name as a sentence
    metrics_table = md.split("## Metrics")[1].split("##")[0].strip().splitlines()
    assert [r.split(" | ")[:2] for r in metrics_table[2:]] == [
        ["| coverage", "coverage_ols"], ["| ", "coverage_tsls"],
        ["| ring.exact", "ring.exact.hq_frac"], ["| ", "ring.exact.modes_1pct"],
        ["| tsls", "tsls/weak"], ["| other", "ring.ddim10.mmd"], ["| ", "sieve_mse"],
    ]  # fmt: skip
    html = Path(result.files["report.html"]).read_text()
    assert html.count("<figure><img") == 2
    assert "<figcaption>Figure 2. Loss curve.</figcaption>" in html
    assert html.count('<div class="table-wrap"><table>') == html.count("<table>") == 2


def test_published_report_gets_the_run_header(tmp_path):
    from topiclab.core.outputs import publish_topic, resolve_out_dir
    from topiclab.core.report import RUN_HEADER

    ctx = context(tmp_path)
    ctx.workdir.mkdir()
    report = render_topic_report(Tiny(), ctx, StageResult(), StageResult(), StageResult())
    assert RUN_HEADER in Path(report.files["report.html"]).read_text()
    out = resolve_out_dir(None, tmp_path / "results")
    links = {"runs": {"mlflow": "r1"}, "urls": {"MLflow run": "http://m/r1"}}
    extra = {"seed": 3, "git": "ab" * 20, "cache_key": "k123", "versions": {"topiclab": "9.9"}}
    publish_topic(out, "tiny", "quick", StageResult(), report, links, 1.0, extra)
    for name in ("report.md", "report.html"):
        text = (out / "tiny" / name).read_text()
        assert RUN_HEADER not in text and "seed 3" in text and "k123" in text, name
        assert "topiclab 9.9 (git <code>abababab" in text or "topiclab 9.9 (git `abab" in text
        assert "http://m/r1" in text and "../../index.html" in text
    # the stage's own copy keeps the placeholder: a cached re-run fills in its own header
    assert RUN_HEADER in Path(report.files["report.md"]).read_text()


def test_saved_figures_are_cropped_to_their_labels(tmp_path):
    from topiclab.core.stages import figure_defaults

    def save(path: Path) -> tuple[int, ...]:
        fig, ax = plt.subplots(figsize=(4, 3), dpi=50)
        ax.set_ylabel("a label far to the left", labelpad=120)  # outside the figure
        fig.savefig(path)
        plt.close(fig)
        return plt.imread(path).shape[:2]

    assert save(tmp_path / "plain.png") == (150, 200)  # the label is clipped
    with figure_defaults():
        _, width = save(tmp_path / "tight.png")
    assert width > 200  # the canvas grew to hold it


def test_a_full_disk_leaves_the_old_pages_whole_and_says_where(tmp_path, monkeypatch):
    """ENOSPC part-way through a page: one error naming the folder, the previous page intact,
    no half-written file or temporary left (the real fault: a cut report.html, empty index.md)."""
    import errno
    import shutil

    import pytest

    from topiclab.core.errors import DiskFullError
    from topiclab.core.outputs import publish_topic

    ctx = context(tmp_path)
    ctx.workdir.mkdir()
    report = render_topic_report(Tiny(), ctx, StageResult(), StageResult(), StageResult())
    out = tmp_path / "out"
    publish_topic(out, "tiny", "quick", StageResult(), report, {"runs": {}, "urls": {}}, 1.0)
    write_index(out, [{"topic": "tiny", "status": "ok", "report": True}])
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def full(path, text, *args, **kwargs):
        with open(path, "w") as fh:
            fh.write(text[:100])
        raise OSError(errno.ENOSPC, "No space left on device")

    def full_copy(source, target, *args, **kwargs):
        full(target, Path(source).read_text())

    monkeypatch.setattr(Path, "write_text", full)
    monkeypatch.setattr(shutil, "copyfile", full_copy)
    with pytest.raises(DiskFullError, match=f"no space left on device in '{out}'"):
        write_index(out, [{"topic": "tiny", "status": "failed"}])
    with pytest.raises(DiskFullError, match=f"in '{out / 'tiny'}'"):
        publish_topic(out, "tiny", "quick", StageResult(), report, {"runs": {}, "urls": {}}, 2.0)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def quick_metrics(tmp_path: Path) -> Path:
    """A quick run's metrics.json: one claim passed, one failed, one not expected of quick."""
    claims = [
        {"id": "ok", "passed": True, "expected_in": ["quick", "standard"]},
        {"id": "broken", "passed": False, "expected_in": ["quick", "standard"]},
        {"id": "needs-training", "passed": False, "expected_in": ["standard"]},
    ]
    path = tmp_path / "ridge" / "metrics.json"
    path.parent.mkdir(parents=True)
    payload = {"topic": "ridge", "profile": "quick", "metrics": {}, "claims": claims}
    path.write_text(json.dumps(payload))
    return path


def test_index_counts_claims_not_expected_apart(tmp_path):
    entry = index_entry(quick_metrics(tmp_path))
    assert entry["failed_claims"] == ["broken"]  # not "needs-training": quick is too small
    counts = (entry["claims_passed"], entry["claims_total"], entry["claims_not_expected"])
    assert counts == (1, 3, 1)
    write_index(tmp_path, [entry])
    assert "| ridge | ok | 1/3, 1 not expected |" in (tmp_path / "index.md").read_text()
    assert "all runs" not in (tmp_path / "index.md").read_text()  # --out DIR: no home


def test_index_of_a_run_under_results_links_to_all_runs(tmp_path):
    run = resolve_out_dir(None, tmp_path / "results")
    write_index(run, [{"topic": "a", "status": "failed", "error": "boom"}])
    assert '<a href="../index.html">all runs</a>' in (run / "index.html").read_text()
    assert "[all runs](../index.md)" in (run / "index.md").read_text()
