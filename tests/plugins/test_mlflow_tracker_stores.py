"""Stores that hold up (issue 9): concurrent first runs on a fresh home, runs of killed
processes closed by the next start, a run closed although its writes fail, and an
unreachable tracking server refused in seconds, before any compute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(home: Path, api_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TOPICLAB_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "PREFECT_API_URL": api_url,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
        **extra,
    }


def _pipeline(seed: int, out: Path, barrier: Path | None = None, n: int = 0) -> list[str]:
    """A quick ridge run in a new process; with ``barrier``, it starts once ``n`` processes
    have done their (slow) imports and touched a file there (5 minutes at most)."""
    code = "import json, os, pathlib, time; from topiclab.flows.pipeline import topic_pipeline\n"
    if barrier is not None:
        code += (
            f"b = pathlib.Path('{barrier}'); (b / str(os.getpid())).touch()\n"
            "deadline = time.time() + 300\n"
            f"while len(list(b.iterdir())) < {n} and time.time() < deadline: time.sleep(0.02)\n"
        )
    code += f"print(json.dumps(topic_pipeline('ridge', 'quick', ['seed={seed}'], None, '{out}')))"
    return [sys.executable, "-c", code]


def _client(home: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{home / 'mlflow.db'}")


@pytest.mark.e2e
def test_three_runs_at_once_on_a_fresh_home_all_finish(prefect_harness, tmp_path):
    home = tmp_path / "home"  # no MLflow database yet: all three create it at once
    barrier = tmp_path / "barrier"  # all three start together, after their imports
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            _pipeline(seed, tmp_path / f"out{seed}", barrier, 3),
            env=_env(home, prefect_harness),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (41, 42, 43)
    ]
    outputs = [p.communicate(timeout=400) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    ids = [result["links"]["runs"]["mlflow"] for result in results]
    client = _client(home)
    for run_id in ids:
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert {"eval/max_coef_gap", "data/n_train", "run/seconds"} <= set(run.data.metrics)
        assert len(client.get_metric_history(run_id, "train/loss")) == 150


@pytest.mark.e2e
def test_a_killed_run_is_closed_as_killed_by_the_next_start(prefect_harness, tmp_path):
    """Also: the next run resumes after the finished stages, its data not regenerated (one
    kill and restart for both; tests/flows/test_pipeline.py had a second)."""
    home = tmp_path / "home"
    env = _env(home, prefect_harness, TOPICLAB_PLUGINS="support.killer_plugin")
    killed = subprocess.run(
        _pipeline(51, tmp_path / "out"),
        env={**env, "TOPICLAB_TEST_KILL": "1"},  # os._exit at train step 5: no cleanup at all
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 137, killed.stderr[-3000:]
    client = _client(home)
    exp = client.get_experiment_by_name("topiclab-ridge").experiment_id
    [left] = client.search_runs([exp])
    assert left.info.status == "RUNNING"  # nobody closed it
    data_files = list(home.glob("work/ridge/*/generate/data.npz"))
    assert data_files, "the generate stage did not finish before the kill"
    mtimes = {p: p.stat().st_mtime_ns for p in data_files}
    again = subprocess.run(
        _pipeline(51, tmp_path / "out"), env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["cached_stages"] == ["generate"]
    assert {p: p.stat().st_mtime_ns for p in data_files} == mtimes
    closed = client.get_run(left.info.run_id)
    assert closed.info.status == "KILLED"
    assert "died" in closed.data.tags["error"]


def _started(topic: str, pid: int, host: str) -> dict:
    from topiclab.core.hookspecs import empty_links
    from topiclab.plugins import mlflow_tracker

    run = {
        "topic": topic,
        "profile": "quick",
        "config": {"seed": 1},
        "versions": {},
        "git": "",
        "flow_run_id": "",
        "links": empty_links(),
        "upstream": {},
        "pid": pid,
        "host": host,
    }
    run["links"] = mlflow_tracker.topiclab_before_run(run=run)
    return run


def test_a_worker_process_writes_step_metrics_at_once():
    """A stage in a worker process may end by os._exit (no exit-time flush of a queue)."""
    import socket

    from mlflow.tracking import MlflowClient

    from topiclab.plugins import mlflow_tracker

    run = _started("worker", os.getppid(), socket.gethostname())  # the flow is another process
    stage_run = {**run, "stage": "train"}
    mlflow_tracker.topiclab_log_metrics(run=stage_run, metrics={"loss": 1.0}, step=3, child=None)
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    [point] = client.get_metric_history(run["links"]["runs"]["mlflow"], "train/loss")
    assert point.step == 3
    outcome = {"status": "FINISHED", "seconds": 0.1, "error": None, "out_dir": "."}
    mlflow_tracker.topiclab_after_run(run=run, outcome=outcome)


def test_a_run_is_closed_even_when_its_writes_fail(monkeypatch, tmp_path):
    """A SIGTERM or a busy database during the last writes: the status is still set."""
    from mlflow.tracking import MlflowClient

    from topiclab.plugins import mlflow_tracker

    run = _started("closing", os.getpid(), "test-host")
    run_id = run["links"]["runs"]["mlflow"]
    locked = Exception("(sqlite3.OperationalError) database is locked")
    tries = {"set_terminated": 0}
    real_terminate = MlflowClient.set_terminated

    def always_locked(self, *args, **kwargs):
        raise locked

    def locked_once(self, *args, **kwargs):
        tries["set_terminated"] += 1
        if tries["set_terminated"] == 1:
            raise locked
        return real_terminate(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_artifact", always_locked)
    monkeypatch.setattr(MlflowClient, "set_tag", always_locked)
    monkeypatch.setattr(MlflowClient, "set_terminated", locked_once)
    (tmp_path / "metrics.json").write_text("{}")
    outcome = {"status": "FAILED", "seconds": 1.0, "error": "SIGTERM", "out_dir": str(tmp_path)}
    mlflow_tracker.topiclab_after_run(
        run=run, outcome={**outcome, "metrics_json": str(tmp_path / "metrics.json")}
    )
    monkeypatch.undo()
    assert MlflowClient(os.environ["MLFLOW_TRACKING_URI"]).get_run(run_id).info.status == "FAILED"
    assert tries["set_terminated"] == 2


def test_unreachable_tracking_server_fails_fast_in_one_line(monkeypatch):
    from topiclab.core.errors import TopiclabError
    from topiclab.plugins.mlflow_tracker import store

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(TopiclabError, match="unreachable") as info:
        store.preflight()
    assert time.perf_counter() - start < 10 and "\n" not in str(info.value)


def test_cli_refuses_an_unreachable_tracking_server_before_any_compute(tmp_path):
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
        "TOPICLAB_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(REPO),  # this checkout's topiclab, whatever the venv installed
    }
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "topiclab.app.cli", "run", "ridge", "--profile", "quick"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    seconds = time.perf_counter() - start
    assert proc.returncode == 2 and seconds <= 10, (seconds, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unreachable" in lines[0], proc.stderr
    assert not (tmp_path / "home" / "work").exists()  # no stage ran


def test_owner_liveness_by_pid_and_start_time():
    from topiclab.plugins.mlflow_tracker.owners import owner_alive, process_started

    me = os.getpid()
    assert owner_alive(me, process_started(me))
    assert not owner_alive(me, "1")  # the PID now belongs to another process
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert not owner_alive(int(done.stdout), "")  # exited and reaped
    assert owner_alive(0, "")  # unknown owner: never closed by guess
