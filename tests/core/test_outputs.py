"""Output folders and the metrics.json contract, without running a flow."""

import json
import os
import re
import shutil

import pytest

from topiclab.core import files
from topiclab.core.errors import ConfigError
from topiclab.core.outputs import (
    dumps_strict,
    git_revision,
    library_versions,
    publish_topic,
    read_links,
    resolve_out_dir,
)
from topiclab.core.topic import Claim, StageResult


def test_timestamped_results_and_latest_link(tmp_path):
    first = resolve_out_dir(None, tmp_path / "results")
    second = resolve_out_dir(None, tmp_path / "results")
    assert first != second and first.parent == second.parent
    latest = tmp_path / "results" / "latest"
    assert latest.is_symlink() and latest.resolve() == second
    assert first.exists()  # earlier results are never touched


def test_out_must_be_a_folder(tmp_path):
    file = tmp_path / "f"
    file.write_text("keep me")
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        resolve_out_dir(file)
    assert file.read_text() == "keep me"


def test_publish_writes_the_contract(tmp_path):
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    html.write_text("<html></html>")
    md.write_text("# r")
    evaluation = StageResult(
        metrics={"m": 1.5},
        claims=[Claim(id="c", statement="s", value=2.0, anchor="a", source="x", passed=True)],
    )
    report = StageResult(files={"report.html": str(html), "report.md": str(md)})
    links = {"runs": {"tracker": "rid"}, "urls": {"Tracker run": "http://t/rid"}}
    path = publish_topic(tmp_path / "out", "t", "quick", evaluation, report, links, 1.23456)
    data = json.loads(path.read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", data.pop("finished_at"))
    assert data == {
        "topic": "t",
        "profile": "quick",
        "metrics": {"m": 1.5},
        "claims": [
            {
                "id": "c",
                "statement": "s",
                "value": 2.0,
                "anchor": "a",
                "source": "x",
                "passed": True,
                "uses": [],
                "note": "",
                "expected_in": ["quick", "standard", "full"],
            }
        ],
        "links": {"runs": {"tracker": "rid"}, "urls": {"Tracker run": "http://t/rid"}},
        "seconds": 1.235,
    }
    assert (tmp_path / "out" / "t" / "report.html").exists()
    assert not list((tmp_path / "out" / "t").glob("*.tmp"))


def test_links_are_read_from_new_and_old_metrics_json():
    links = {"runs": {"tracker": "rid"}, "urls": {"Tracker run": "http://t/rid"}}
    assert read_links({"links": links}) == links
    old = {"topic": "t", "mlflow_run_id": "abc", "mlflow_url": "http://m/abc", "seconds": 1}
    assert read_links(old) == {"runs": {"mlflow": "abc"}, "urls": {"mlflow run": "http://m/abc"}}
    assert read_links({"topic": "t"}) == {"runs": {}, "urls": {}}


def test_versions_and_revision_are_recorded():
    versions = library_versions()
    assert versions["torch"].startswith("2.13.0") and "prefect" in versions
    rev = git_revision()
    assert rev == "unknown" or len(rev.split("+")[0]) == 40
    assert os.environ["MLFLOW_TRACKING_URI"].startswith("sqlite:///")


def test_non_finite_metrics_are_null_and_fail_the_claims_that_use_them(tmp_path):
    nan, inf = float("nan"), float("inf")
    evaluation = StageResult(
        metrics={"loss": nan, "speedup": inf, "ok": 1.0},
        claims=[
            # inf > 1 is True and NaN <= 2 is False: neither comparison may decide the verdict.
            Claim(id="fast", statement="s", value=inf, anchor="> 1", passed=inf > 1),
            Claim(
                id="uses-nan", statement="s", value="n/a", anchor="a", uses=["loss"], passed=True
            ),
            Claim(id="fine", statement="s", value=1.0, anchor="a", uses=["ok"], passed=True),
        ],
    )
    claims = {c.id: c for c in evaluation.claims}
    assert not claims["fast"].passed and claims["fast"].note == "value is inf"
    assert not claims["uses-nan"].passed and "loss is nan" in claims["uses-nan"].note
    assert claims["fine"].passed
    path = publish_topic(
        tmp_path, "t", "quick", evaluation, StageResult(), {"runs": {}, "urls": {}}, 1.0
    )
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"invalid JSON token {c}"))
    assert data["metrics"] == {"loss": None, "speedup": None, "ok": 1.0}
    assert [c["passed"] for c in data["claims"]] == [False, False, True]
    assert data["claims"][0]["value"] is None


def test_a_claim_must_use_measured_metrics():
    with pytest.raises(ValueError, match="uses metrics that were not measured"):
        StageResult(
            metrics={"a": 1.0},
            claims=[Claim(id="c", statement="s", value=1.0, anchor="a", uses=["b"], passed=True)],
        )


def test_dumps_strict_never_writes_nan():
    assert json.loads(dumps_strict({"a": [1.0, float("-inf")], "b": {"c": float("nan")}})) == {
        "a": [1.0, None],
        "b": {"c": None},
    }


def test_expected_in_names_profiles():
    with pytest.raises(ValueError, match="expected_in names no profile: \\['fast'\\]"):
        Claim(id="c", statement="s", value=1.0, anchor="a", expected_in=["fast"], passed=True)


def _published_figures(tmp_path, names):
    """Publish a report whose figures folder holds ``names``; the published figures' names."""
    figures = tmp_path / "stage" / "figures"
    shutil.rmtree(figures, ignore_errors=True)
    figures.mkdir(parents=True)
    for name in names:
        (figures / name).write_bytes(name.encode() * 1000)
    report = StageResult(files={"figures": str(figures)})
    publish_topic(tmp_path / "out", "t", "quick", StageResult(), report, {}, 1.0)
    return sorted(p.name for p in (tmp_path / "out" / "t").iterdir() if p.name != "metrics.json")


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "move-aside"])
def test_figures_are_published_whole_or_not_at_all(tmp_path, monkeypatch, exchange):
    if not exchange:  # a kernel or file system without RENAME_EXCHANGE
        monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    assert _published_figures(tmp_path, ["a.png", "b.png"]) == ["figures"]
    published = tmp_path / "out" / "t" / "figures"
    before = {p.name: p.read_bytes() for p in published.iterdir()}
    copied = []

    def interrupted(src, dst, *args, **kwargs):  # Ctrl-C after the first figure
        if copied:
            raise KeyboardInterrupt
        copied.append(src)
        return real_copyfile(src, dst, *args, **kwargs)

    real_copyfile = shutil.copyfile
    monkeypatch.setattr(shutil, "copyfile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _published_figures(tmp_path, ["c.png", "d.png", "e.png"])
    # The last complete folder stands, and no temporary is left beside it.
    assert {p.name: p.read_bytes() for p in published.iterdir()} == before
    assert sorted(p.name for p in published.parent.iterdir()) == ["figures", "metrics.json"]
    monkeypatch.setattr(shutil, "copyfile", real_copyfile)
    # A new complete copy replaces the old one (no stale figure is kept from an older run).
    _published_figures(tmp_path, ["c.png"])
    assert sorted(p.name for p in published.iterdir()) == ["c.png"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "move-aside"])
@pytest.mark.parametrize("in_the_way", ["file", "link"])
def test_a_file_or_link_where_the_folder_goes_is_replaced_without_leftovers(
    tmp_path, monkeypatch, exchange, in_the_way
):
    if not exchange:
        monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    source, kept = tmp_path / "src", tmp_path / "kept"
    source.mkdir()
    kept.mkdir()
    (source / "a.png").write_bytes(b"a")
    (kept / "x").write_bytes(b"x")
    target = tmp_path / "out" / "figures"
    target.parent.mkdir()
    if in_the_way == "file":
        target.write_bytes(b"old")
    else:
        target.symlink_to(kept)
    files.copy_tree(source, target)
    assert [p.name for p in target.iterdir()] == ["a.png"] and not target.is_symlink()
    assert [p.name for p in target.parent.iterdir()] == ["figures"]  # no .tmp or .old left
    assert (kept / "x").read_bytes() == b"x"  # a link's target is not emptied


def test_a_missing_source_folder_is_an_error_not_an_empty_copy(tmp_path):
    target = tmp_path / "figures"
    target.mkdir()
    (target / "old.png").write_bytes(b"o")
    with pytest.raises(FileNotFoundError, match="no folder to copy"):
        files.copy_tree(tmp_path / "nosuch", target)
    assert [p.name for p in target.iterdir()] == ["old.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["figures"]
