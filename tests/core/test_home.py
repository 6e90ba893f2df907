"""The results home: every run under a results folder on one page, newest first."""

from __future__ import annotations

import json
from pathlib import Path

from topiclab.core.home import home_of, update_home, write_home
from topiclab.core.outputs import resolve_out_dir


def fake_run(root: Path, topic: str, finished: str, passed: list[bool], waived: int = 0) -> Path:
    """A run folder as ``resolve_out_dir`` + ``publish_topic`` leave it (fields the home reads)."""
    run = resolve_out_dir(None, root)
    (run / topic).mkdir()
    claims = [{"id": f"c{i}", "passed": p} for i, p in enumerate(passed)]
    claims += [{"id": f"w{i}", "passed": False, "expected_in": ["full"]} for i in range(waived)]
    url = f"http://127.0.0.1:5000/#/experiments/1/runs/{topic}{finished[-2:]}"
    payload = {
        "topic": topic, "profile": "quick", "seed": 7, "claims": claims, "seconds": 1.25,
        "git": "0123456789abcdef0123456789abcdef01234567+dirty", "finished_at": finished,
        "links": {"runs": {"mlflow": "x"}, "urls": {"MLflow run": url}},
    }  # fmt: skip
    (run / topic / "metrics.json").write_text(json.dumps(payload))
    return run


def test_home_lists_every_run_newest_first_with_links(tmp_path):
    root = tmp_path / "results"
    old = fake_run(root, "ridge", "2026-11-28T09:00:01", [True, True])
    new = fake_run(root, "causal-iv", "2026-11-28T10:00:02", [True, False], 1)
    broken = resolve_out_dir(None, root)
    (broken / "llama").mkdir()
    (broken / "llama" / "metrics.json").write_text('{"claims": [')  # a truncated file
    assert home_of(new) == root.resolve() and home_of(tmp_path) is None
    page = write_home(root).read_text()
    rows = page.split("<tbody>")[1].split("</tr>")
    # newest first (the truncated file's date is its mtime: now); `latest` is not listed twice
    assert [r.split('"')[1] for r in rows[:3]] == ["llama", "causal-iv", "ridge"]
    assert page.count('data-topic="ridge"') == 1
    assert f'href="{old.name}/ridge/report.html"' in page
    assert "/#/experiments/1/runs/ridge01" in page and ">MLflow run</a>" in page
    # claims passed/total, the failed ones named; those not expected of quick counted apart
    assert "<td>1/3, 1 not expected</td><td>c1</td>" in page
    assert "<td>0123456789+dirty</td>" in page and "<td class=num>7</td>" in page
    assert "unreadable" in page and 'data-topic="llama"' in page
    assert "<option>causal-iv</option>" in page  # the topic filter
    assert "<p>3 topic runs under" in page
    md = (root / "index.md").read_text()
    assert f"[report]({new.name}/causal-iv/report.md)" in md


def test_home_of_one_run_says_run(tmp_path):
    root = tmp_path / "results"
    fake_run(root, "ridge", "2026-11-28T09:00:01", [True])
    assert "<p>1 topic run under" in write_home(root).read_text()


def test_update_home_only_for_results_folders(tmp_path):
    out = tmp_path / "out"
    (out / "ridge").mkdir(parents=True)
    assert update_home(out) is None and not (tmp_path / "index.html").exists()
