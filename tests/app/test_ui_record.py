"""A run links to the UIs where ``topiclab ui`` really serves them, any port (no servers here)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from topiclab.app import servers
from topiclab.app.summary import ui_links
from topiclab.core.uis import mlflow_ui_base, record_path
from topiclab.plugins.mlflow_tracker.runs import ui_url

UI = {"prefect": "http://127.0.0.1:47211", "mlflow": "http://127.0.0.1:47212"}


@pytest.fixture
def home(monkeypatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("TOPICLAB_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", "47211")
    monkeypatch.delenv("TOPICLAB_MLFLOW_UI_URL", raising=False)
    return tmp_path


def test_topiclab_ui_records_its_ports_while_it_runs(monkeypatch, home: Path) -> None:
    seen: list[str] = []

    @contextmanager
    def fake_servers(prefect_port: int, mlflow_port: int) -> Iterator[dict[str, str]]:
        yield {
            "prefect": f"http://127.0.0.1:{prefect_port}",
            "mlflow": f"http://127.0.0.1:{mlflow_port}",
        }

    def sleep(seconds: float) -> None:  # what a run started now would link to
        seen.extend([ui_url("7", "abc"), ui_links()])
        raise KeyboardInterrupt

    monkeypatch.setattr(servers, "local_servers", fake_servers)
    monkeypatch.setattr(servers.time, "sleep", sleep)
    servers.run_uis(47211, 47212, console=type("C", (), {"print": lambda *a, **k: None})())
    assert seen[0].startswith("http://127.0.0.1:47212/#/experiments/7/runs/abc")
    assert seen[1] == "Prefect http://127.0.0.1:47211, MLflow http://127.0.0.1:47212"
    assert not record_path().exists()  # removed at exit
    assert mlflow_ui_base() == "http://127.0.0.1:5000"


def test_a_stale_or_foreign_record_is_ignored(monkeypatch, home: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    uri = f"sqlite:///{home / 'mlflow.db'}"
    record_path().write_text(json.dumps({**UI, "pid": dead.pid, "tracking_uri": uri}))
    assert mlflow_ui_base() == "http://127.0.0.1:5000"  # its UI was killed
    import os

    record_path().write_text(json.dumps({**UI, "pid": os.getpid(), "tracking_uri": "sqlite:///x"}))
    assert mlflow_ui_base() == "http://127.0.0.1:5000"  # a UI of another store
    record_path().write_text(json.dumps({**UI, "pid": os.getpid(), "tracking_uri": uri}))
    assert mlflow_ui_base() == UI["mlflow"]
    monkeypatch.setenv("TOPICLAB_MLFLOW_UI_URL", "http://proxy:8080")
    assert mlflow_ui_base() == "http://proxy:8080"  # the user's word wins


def test_the_export_line_of_topiclab_ui_is_one_line_at_80_columns(monkeypatch, home: Path) -> None:
    import io

    from rich.console import Console

    @contextmanager
    def fake_servers(prefect_port: int, mlflow_port: int) -> Iterator[dict[str, str]]:
        yield {"prefect": f"http://127.0.0.1:{prefect_port}", "mlflow": "http://127.0.0.1:5000"}

    def sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(servers, "local_servers", fake_servers)
    monkeypatch.setattr(servers.time, "sleep", sleep)
    console = Console(file=io.StringIO(), width=80)  # a terminal's default
    servers.run_uis(47211, 47212, console)
    lines = [line.strip() for line in console.file.getvalue().splitlines()]
    assert "export PREFECT_API_URL=http://127.0.0.1:47211/api" in lines
