"""The suite's wave logic on a work pool (``flows.pool``), without a pool: the two calls that
talk to the pool are replaced, everything else is the real suite.

The real pool, with two workers, is in tests/flows/test_team_deploy.py (it needs PostgreSQL);
this checks in seconds what it cannot vary: a consumer's run is created only after its
upstream's has ended, a topic without a deployment runs in the suite's run, and a failed topic
run fails its entry and blocks its consumers.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

pytestmark = pytest.mark.e2e


class FakePool:
    """``start_topic_runs`` and ``wait_for_runs`` of flows.pool for topics in ``deployed``:
    waiting runs the topic in this process, as a worker would, or fails it."""

    def __init__(self, deployed: set[str], failing: set[str] = frozenset()) -> None:
        self.deployed, self.failing = deployed, failing
        self.calls: list[tuple[str, list[str]]] = []
        self.parameters: dict[str, dict[str, Any]] = {}

    def start(self, keys: list[str], parameters: dict[str, Any]) -> dict[str, Any]:
        from prefect.client.schemas.objects import FlowRun
        from prefect.states import Scheduled

        self.calls.append(("start", keys))
        started = {}
        for key in keys:
            if key in self.deployed:
                self.parameters[key] = {**parameters, "topic": key}
                started[key] = FlowRun(flow_id=uuid4(), name=f"{key}-run", state=Scheduled())
        return started

    def wait(self, started: dict[str, Any]) -> dict[str, Any]:
        from prefect.states import Completed, Failed

        from topiclab.flows.pipeline import topic_pipeline

        self.calls.append(("wait", list(started)))
        ended = {}
        for key, run in started.items():
            if key in self.failing:
                state = Failed(message="worker lost")
            else:
                topic_pipeline(**self.parameters[key])  # what the worker's run does
                state = Completed()
            ended[key] = run.model_copy(update={"state": state})
        return ended


@pytest.fixture
def pool(plugin_env, monkeypatch):
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.downstream_topic")
    import topiclab.flows.pipeline as pipeline

    def install(fake: FakePool) -> FakePool:
        monkeypatch.setattr(pipeline, "work_pool", lambda: "topiclab")
        monkeypatch.setattr(pipeline, "start_topic_runs", fake.start)
        monkeypatch.setattr(pipeline, "wait_for_runs", fake.wait)
        return fake

    return install


def test_upstream_run_ends_before_its_consumer_starts(prefect_harness, pool, tmp_path):
    from topiclab.flows.pipeline import suite

    fake = pool(FakePool(deployed={"ridge", "ridge-probe"}))
    summary = suite(["ridge-probe"], "quick", ["ridge:seed=64"], None, str(tmp_path))
    assert fake.calls == [
        ("start", ["ridge"]),
        ("wait", ["ridge"]),
        ("start", ["ridge-probe"]),
        ("wait", ["ridge-probe"]),
    ]
    assert fake.parameters["ridge-probe"]["multi_topic"] is True
    assert fake.parameters["ridge"]["out_dir"] == str(tmp_path)
    entries = {e["topic"]: e for e in summary["topics"]}
    assert [e["status"] for e in entries.values()] == ["ok", "ok"]
    assert entries["ridge"]["metrics"]["max_coef_gap"] < 1e-3  # read from its metrics.json


def test_topic_without_a_deployment_runs_in_the_suite(prefect_harness, pool, tmp_path):
    from support import downstream_topic

    from topiclab.flows.pipeline import suite

    downstream_topic.RUNS.clear()
    fake = pool(FakePool(deployed={"ridge"}))
    summary = suite(["ridge-probe"], "quick", ["ridge:seed=65"], None, str(tmp_path))
    assert fake.calls[-1] == ("wait", [])  # ridge-probe: nothing started on the pool
    assert [e["status"] for e in summary["topics"]] == ["ok", "ok"]
    assert [topic for topic, _ in downstream_topic.RUNS] == ["ridge", "ridge-probe"]


def test_failed_topic_run_blocks_its_consumers(prefect_harness, pool, tmp_path):
    from topiclab.flows.pipeline import SuiteFailed, suite

    fake = pool(FakePool(deployed={"ridge", "ridge-probe"}, failing={"ridge"}))
    with pytest.raises(SuiteFailed, match="2 of 2 topics failed: ridge, ridge-probe"):
        suite(["ridge-probe"], "quick", ["ridge:seed=66"], None, str(tmp_path))
    assert ("start", ["ridge-probe"]) not in fake.calls
    index = (tmp_path / "index.md").read_text()
    assert "flow run ridge-run ended Failed: worker lost" in index
    assert "upstream topic ridge failed" in index
