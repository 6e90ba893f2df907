"""Bad input to the CLI: one line on stderr, exit 2, within seconds, and nothing touched.

Paths a run would write (``TOPICLAB_HOME``, ``--out``, ``results/latest``) are checked before
anything is imported or computed; so are the config file and ``metrics.json`` files that
``topiclab report`` reads. Read-only folders are made with a read-only bind mount inside a
user namespace (``unshare``), because tests may run as root, which ignores mode bits.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from app.clirun import (
    fresh_env,
    one_line_error,
    run_with_read_only,
    topiclab,
    unshare_available,
)

from topiclab.app.preflight import HOME_FOLDERS, check_home_layout
from topiclab.core.errors import TopiclabError

FAST_S = 10.0


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_config_that_is_binary_or_a_folder(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    line = one_line_error(topiclab("run", "ridge", "--config", str(binary), env=env, cwd=tmp_path))
    assert "is not a text (TOML) file" in line
    folder = tmp_path / "conf"
    folder.mkdir()
    line = one_line_error(topiclab("run", "ridge", "--config", str(folder), env=env, cwd=tmp_path))
    assert "is a folder, not a TOML file" in line
    assert not (tmp_path / "results").exists()


def test_out_that_cannot_be_a_folder(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    line = one_line_error(
        topiclab("run", "ridge", "--out", str(afile / "sub"), env=env, cwd=tmp_path)
    )
    assert f"--out '{afile / 'sub'}' cannot be a folder" in line
    assert afile.read_text() == "keep me"
    line = one_line_error(
        topiclab("run", "ridge", "--out", "/proc/topiclab-out", env=env, cwd=tmp_path)
    )
    assert "--out '/proc/topiclab-out' is not writable" in line


def test_results_latest_that_is_a_real_folder(tmp_path: Path) -> None:
    latest = tmp_path / "results" / "latest"
    latest.mkdir(parents=True)
    (latest / "notes.txt").write_text("mine")
    before = tree(tmp_path / "results")
    proc = topiclab("run", "ridge", "--profile", "quick", env=fresh_env(tmp_path), cwd=tmp_path)
    assert "is a real folder, not the link" in one_line_error(proc)
    assert tree(tmp_path / "results") == before  # no empty timestamp folder, no dangling link


@pytest.mark.parametrize(
    "content",
    ['{"topic": "ridge", "claims": [', "[]", '{"claims": 5, "seconds": 1}', "\udcff"],
    ids=["truncated", "a-list", "claims-not-a-list", "not-utf8"],
)
def test_report_on_a_corrupt_metrics_json(tmp_path: Path, content: str) -> None:
    out = tmp_path / "out"
    (out / "ridge").mkdir(parents=True)
    (out / "ridge" / "metrics.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    line = one_line_error(topiclab("report", str(out), env=fresh_env(tmp_path), cwd=tmp_path))
    assert f"'{out / 'ridge' / 'metrics.json'}'" in line
    assert tree(out) == ["ridge", "ridge/metrics.json"]  # no index written


def test_multi_topic_run_refuses_a_misspelled_table(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text("[rigde]\nsteps = 10\n")
    env = fresh_env(tmp_path)
    proc = topiclab(
        "run", "ridge", "causal-iv", "--profile", "quick", "--config", str(config),
        env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert "table [rigde] is neither a topic nor a config key" in one_line_error(proc)
    assert not (tmp_path / "results").exists()


@pytest.mark.skipif(not unshare_available(), reason="needs unshare --user --mount (namespaces)")
@pytest.mark.parametrize("which", ["home", "out"])
def test_read_only_home_or_out_fails_fast(tmp_path: Path, which: str) -> None:
    env = fresh_env(tmp_path)
    readonly = Path(env["TOPICLAB_HOME"]) if which == "home" else tmp_path / "out"
    readonly.mkdir(parents=True)
    args = ["run", "ridge", "--profile", "quick", "--out", str(tmp_path / "out")]
    start = time.monotonic()
    proc = run_with_read_only(readonly, args, env, tmp_path)
    seconds = time.monotonic() - start
    name = "TOPICLAB_HOME" if which == "home" else "--out"
    assert f"{name} '{readonly}' is not writable: Read-only file system" in one_line_error(proc)
    assert seconds < FAST_S, f"took {seconds:.1f} s"


def test_failed_run_does_not_leave_the_old_verdict_in_the_index(
    tmp_path: Path, prefect_harness: str
) -> None:
    """A topic that ran fine before and fails now: the index says failed, not the old ok.

    On the session's Prefect API: a temporary server per run is tested elsewhere."""
    out = tmp_path / "out"
    (out / "failing").mkdir(parents=True)
    old = {"topic": "failing", "claims": [{"id": "c", "passed": True}], "seconds": 1.0}
    (out / "failing" / "metrics.json").write_text(json.dumps(old))
    env = fresh_env(
        tmp_path, TOPICLAB_PLUGINS="support.failing_topic", PREFECT_API_URL=prefect_harness
    )
    assert topiclab("report", str(out), env=env, cwd=tmp_path).returncode == 0
    assert "<td>ok</td>" in (out / "index.html").read_text()
    proc = topiclab("run", "failing", "--out", str(out), env=env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    index = (out / "index.html").read_text()
    assert "<td>failing</td>" in index and "<td>ok</td>" not in index
    assert "<td>failed</td>" in index


def test_value_a_stage_cannot_take_is_refused_before_prefect(tmp_path: Path) -> None:
    """An unknown play passed validation once and failed in the generate stage. The other
    values of its kind are in tests/plugins/test_config_edges.py (the same resolve_config)."""
    env = fresh_env(tmp_path)
    args = ["run", "llama", "--profile", "quick", "--set", 'data.val_plays=["nope"]']
    line = one_line_error(topiclab(*args, env=env, cwd=tmp_path))
    assert line.startswith("error: invalid value for 'data.val_plays': unknown plays"), line
    assert not (Path(env["PREFECT_HOME"])).exists()  # no Prefect server was started
    assert not (tmp_path / "results").exists()


def test_config_file_with_a_bom_is_read(tmp_path: Path) -> None:
    """A Windows editor's byte-order mark is not a TOML error: the file's own (bad) value is
    what the one line names, so the file was parsed."""
    config = tmp_path / "run.toml"
    config.write_bytes("\ufeffseed = -1\n".encode())
    proc = topiclab("run", "ridge", "--config", str(config), env=fresh_env(tmp_path), cwd=tmp_path)
    assert one_line_error(proc).startswith("error: invalid value for 'seed'")


@pytest.mark.parametrize("name", [*HOME_FOLDERS, "work/ridge"])
def test_home_layout_refuses_a_file_in_a_folders_place(tmp_path: Path, name: str) -> None:
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text("keep me")
    with pytest.raises(TopiclabError, match="is a file where topiclab keeps a folder"):
        check_home_layout(tmp_path, ["ridge"])
    if name == "work/ridge":  # another topic's name in work/ is no folder of this run
        check_home_layout(tmp_path, ["other"])


@pytest.mark.parametrize("name", ["logs", "mlartifacts", "work/ridge"])
def test_a_file_where_the_home_keeps_a_folder_is_one_line(tmp_path: Path, name: str) -> None:
    # logs, prefect: a FileExistsError traceback; work, mlartifacts, work/<topic>: a failed
    # flow after Prefect had started (exit 1).
    env = fresh_env(tmp_path)
    home = Path(env["TOPICLAB_HOME"])
    (home / name).parent.mkdir(parents=True, exist_ok=True)
    (home / name).write_text("keep me")
    line = one_line_error(topiclab("run", "ridge", "--profile", "quick", env=env, cwd=tmp_path))
    assert f"'{home / name}' is a file where topiclab keeps a folder" in line, line
    assert (home / name).read_text() == "keep me"
    assert not (tmp_path / "results").exists()
    assert name == "prefect" or not (home / "prefect").exists()  # no Prefect server started


def test_a_folder_named_like_the_mlflow_database_is_one_line(tmp_path: Path) -> None:
    # It was one line too, after 2 minutes of SQLite retries.
    env = fresh_env(tmp_path)
    home = Path(env["TOPICLAB_HOME"])
    (home / "mlflow.db").mkdir(parents=True)
    line = one_line_error(topiclab("run", "ridge", "--profile", "quick", env=env, cwd=tmp_path))
    assert not (home / "prefect").exists()  # no Prefect server started
    assert f"'{home / 'mlflow.db'}' is a folder where MLflow keeps its SQLite database" in line
