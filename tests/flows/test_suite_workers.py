"""The suite on a process pool: independent topics at once, the same numbers as one by one."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e
TIMING = ("seconds", "per_s")  # wall-clock metrics differ run to run


def _metrics(summary: dict) -> dict[str, dict[str, float]]:
    return {
        e["topic"]: {k: v for k, v in e["metrics"].items() if not any(t in k for t in TIMING)}
        for e in summary["topics"]
    }


STAGE_LINE = re.compile(r"  (ridge|causal-iv)-quick: stage (generate|train|evaluate|report) ")


@pytest.fixture
def prefect_logging() -> None:
    """Prefect sets up its logging at its first run: set up under ``capfd``, its console
    handler would keep writing to capfd's stream, closed after the test ("Logging error")."""
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()


def test_suite_with_two_workers_matches_sequential(
    prefect_harness, plugin_env, tmp_path, prefect_logging, capfd
):
    """Also: under a CLI run's log redirection, the workers' stage lines reach the terminal
    (stderr) whole, as a single topic's do, and their library lines the run's log file."""
    from rich.console import Console

    from topiclab.app.logfile import library_log
    from topiclab.flows.pipeline import suite

    topics = ["ridge", "causal-iv"]
    sequential = suite(topics, "quick", ["seed=71"], None, str(tmp_path / "seq"), False)
    capfd.readouterr()
    plugin_env.setenv("COLUMNS", "250")  # rich wraps at 80 columns where stderr is no terminal
    with library_log(tmp_path / "run.log", Console(stderr=True)) as log:  # as `topiclab run`
        parallel = suite(
            topics, "quick", ["seed=71"], None, str(tmp_path / "par"), False, workers=2
        )
    lines = capfd.readouterr().err.splitlines()
    stage_lines = [line for line in lines if STAGE_LINE.match(line)]
    assert len(stage_lines) == len(set(stage_lines)) == 8, lines
    assert lines == stage_lines  # nothing else, and no line cut into another
    for line in ("of model 'topiclab-ridge-ridge'", "ridge gd: step 150/150", "coverage: step"):
        assert line in log.read_text(), line  # written by the workers
    assert [e["status"] for e in parallel["topics"]] == ["ok", "ok"]
    assert _metrics(parallel) == _metrics(sequential)
    assert all(_metrics(sequential).values())
    assert (tmp_path / "par" / "index.md").exists()


def test_suite_on_a_dask_cluster(prefect_harness, plugin_env, tmp_path):
    """``dask_address`` sends topics to a Dask scheduler (prefect-dask's DaskTaskRunner).

    The cluster's workers are threads of this process: worker processes would need the
    Prefect API URL in their environment, which a real deployment sets (docs/architecture.md).
    """
    from distributed import LocalCluster

    from topiclab.flows.pipeline import suite

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        summary = suite(
            ["ridge"],
            "quick",
            ["seed=71"],
            None,
            str(tmp_path),
            dask_address=cluster.scheduler_address,
        )
    assert [e["status"] for e in summary["topics"]] == ["ok"]
    assert summary["topics"][0]["metrics"]["max_coef_gap"] < 1e-3
