"""The terminal summary at the end of a run: claims, then where things are, deep links last."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from topiclab.app.summary import entries_from, print_summary


def test_summary_names_only_failed_claims_the_profile_should_confirm(tmp_path: Path) -> None:
    claims = [
        {"id": "ok", "passed": True, "expected_in": ["quick", "standard"]},
        {"id": "broken", "passed": False, "expected_in": ["quick", "standard"]},
        {"id": "needs-training", "passed": False, "expected_in": ["standard"]},
    ]
    (tmp_path / "ridge").mkdir()
    urls = {"MLflow run": "http://127.0.0.1:5000/#/experiments/1/runs/r1"}
    payload = {"topic": "ridge", "profile": "quick", "metrics": {}, "claims": claims}
    payload["links"] = {"runs": {"mlflow": "r1"}, "urls": urls}
    (tmp_path / "ridge" / "metrics.json").write_text(json.dumps(payload))
    console = Console(record=True, width=80)  # a terminal's default
    print_summary(console, entries_from(tmp_path, ["ridge"]), tmp_path, None)
    text = console.export_text()
    assert "1/3, 1 not expected" in text and "broken" in text
    assert "needs-training" not in text  # quick is too small for it: counted, not named
    # the deep links last: the report, then each tracker page metrics.json names
    assert text.rstrip().endswith("ridge MLflow run: http://127.0.0.1:5000/#/experiments/1/runs/r1")


def test_where_things_are_stays_one_line_to_copy_at_80_columns(tmp_path: Path) -> None:
    out_dir = tmp_path / ("a-results-folder-with-a-long-name-" * 2) / "20261130-041500"
    log = out_dir / "topiclab.log"
    console = Console(record=True, width=80)
    print_summary(console, [], out_dir, log)
    lines = console.export_text().splitlines()
    assert f"results:  {out_dir}" in lines and f"log:      {log}" in lines


def test_every_topic_key_shows_whole_at_80_columns(tmp_path: Path) -> None:
    """The topic column is the row's name: never cut to 'causal-r…' at a terminal's width."""
    failed = [{"id": f"claim_{i}", "passed": False} for i in range(3)]
    claims = [*failed, {"id": "n", "passed": False, "expected_in": ["standard"]}]
    for topic in ("causal-recsys", "mode-collapse"):
        (tmp_path / topic).mkdir()
        payload = {"topic": topic, "profile": "quick", "metrics": {}, "claims": claims}
        (tmp_path / topic / "metrics.json").write_text(json.dumps(payload))
    console = Console(record=True, width=80)
    print_summary(
        console, entries_from(tmp_path, ["causal-recsys", "mode-collapse"]), tmp_path, None
    )
    rows = [line for line in console.export_text().splitlines() if line.startswith("│")]
    assert any("│ causal-recsys " in row for row in rows), rows
    assert any("│ mode-collapse " in row for row in rows), rows
