"""The MLflow tracker end to end on the example ``ridge`` topic (quick), beside a second
tracker (``tests/support/jsonl_tracker.py``) that must see every event MLflow sees.

Also: what the MLflow UI shows (run name, description, source tags, namespaced metrics,
registered model with signature), a cached re-run pointing at its source run, and lineage
tags from ``run["upstream"]``.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

pytestmark = pytest.mark.e2e
MLFLOW, JSONL = "mlflow-tracker", "support.jsonl_tracker"


def client():
    from mlflow.tracking import MlflowClient

    return MlflowClient(os.environ["MLFLOW_TRACKING_URI"])


@pytest.fixture(scope="module")
def tracked(prefect_harness, tmp_path_factory):
    """Two ridge runs (the second all cached), both trackers on, every hook call recorded."""
    from topiclab.core.registry import get_registry, reset_registry
    from topiclab.flows.pipeline import topic_pipeline

    tmp = tmp_path_factory.mktemp("tracked")
    saved = {k: os.environ.get(k) for k in ("TOPICLAB_PLUGINS", "TOPICLAB_JSONL_TRACKER")}
    os.environ["TOPICLAB_PLUGINS"] = JSONL
    os.environ["TOPICLAB_JSONL_TRACKER"] = str(tmp / "events.jsonl")
    reset_registry()
    calls: list[tuple[str, set[str]]] = []

    def before(name, impls, kwargs):
        if name.startswith("topiclab_") and "register" not in name:
            calls.append((name, {i.plugin_name for i in impls}))

    undo = get_registry().plugins.manager.add_hookcall_monitoring(before, lambda *a: None)
    try:
        first = topic_pipeline("ridge", "quick", ["seed=31"], None, str(tmp / "a"))
        second = topic_pipeline("ridge", "quick", ["seed=31"], None, str(tmp / "b"))
    finally:
        undo()
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        reset_registry()
    events = [json.loads(line) for line in (tmp / "events.jsonl").read_text().splitlines()]
    return first, second, calls, events


def test_second_tracker_receives_every_event_mlflow_does(tracked):
    first, _, calls, events = tracked
    mlflow_calls = [name for name, plugins in calls if MLFLOW in plugins]
    assert {"topiclab_before_run", "topiclab_log_metrics", "topiclab_after_run"} <= set(
        mlflow_calls
    )
    assert all(JSONL in plugins for name, plugins in calls if MLFLOW in plugins)
    mine = [e for e in events if e["run"] == first["links"]["runs"]["jsonl"]]
    kinds = Counter(e["event"] for e in mine)
    assert kinds["before_run"] == kinds["after_run"] == 1
    assert kinds["before_stage"] == kinds["after_stage"] == 4
    assert kinds["log_metrics"] == 150  # one per training step of the quick profile
    assert {e["stage"] for e in mine if e["event"] == "log_metrics"} == {"train"}
    assert mine[-1]["status"] == "FINISHED"


def test_links_are_generic_in_metrics_json(tracked):
    first, _, _, _ = tracked
    assert set(first["links"]["runs"]) == {"mlflow", "jsonl"}
    assert {"MLflow run", "JSONL log"} <= set(first["links"]["urls"])  # + Prefect's, if lasting
    assert not [k for k in first if "mlflow" in k.lower()]
    run = client().get_run(first["links"]["runs"]["mlflow"])
    assert first["links"]["urls"]["MLflow run"].endswith(
        f"/runs/{run.info.run_id}?workflowType=machine_learning"
    )


def test_prefect_flow_run_link_only_for_a_lasting_server(monkeypatch):
    from topiclab.flows.pipeline import prefect_urls

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert prefect_urls("fr-1") == {}
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert prefect_urls("fr-1") == {"Prefect flow run": "http://127.0.0.1:4200/runs/flow-run/fr-1"}


def test_mlflow_run_reads_well_in_the_ui(tracked):
    first, _, _, _ = tracked
    run = client().get_run(first["links"]["runs"]["mlflow"])
    tags, metrics = run.data.tags, run.data.metrics
    assert run.info.run_name.startswith("ridge-quick-seed31-")
    assert tags["mlflow.source.type"] == "JOB" and tags["mlflow.source.name"]
    assert int(tags["topiclab.pid"]) == os.getpid() and tags["topiclab.host"]
    note = tags["mlflow.note.content"]
    assert "Claims:" in note and "PASS" in note and "JSONL log" in note
    assert {"data/n_train", "eval/max_coef_gap", "run/seconds"} <= set(metrics)
    assert [k for k in metrics if k.startswith("claims/")]
    assert all("/" in k for k in metrics), [k for k in metrics if "/" not in k]
    assert len(client().get_metric_history(run.info.run_id, "train/loss")) == 150
    exp = client().get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    # the experiments list shows the topic's title, not "-" (as plain text: no Markdown there)
    assert exp.tags["mlflow.note.content"].startswith("Ridge regression: gradient")


def test_registered_model_has_signature_example_and_description(tracked):
    from mlflow.models import get_model_info

    first, _, _, _ = tracked
    run_id = first["links"]["runs"]["mlflow"]
    [version] = client().search_model_versions(f"run_id = '{run_id}'")
    assert "seed 31" in version.description and "ridge" in version.description
    info = get_model_info(f"models:/{version.name}/{version.version}")
    assert info.signature is not None and info.saved_input_example_info is not None


def test_cached_rerun_points_at_the_run_that_computed_it(tracked):
    first, second, _, _ = tracked
    assert second["cached_stages"] == ["generate", "train", "evaluate", "report"]
    source = first["links"]["runs"]["mlflow"]
    run = client().get_run(second["links"]["runs"]["mlflow"])
    assert run.data.tags["topiclab.source_run"] == source
    assert run.data.tags["topiclab.source_run.train"] == source
    assert source in run.data.tags["topiclab.source_run.url"]
    assert source in run.data.tags["mlflow.note.content"]
    assert run.info.status == "FINISHED"


def test_downstream_run_names_its_upstream_run_and_model_version(tracked):
    """What a downstream topic's run gets from ``run["upstream"]`` (filled by the DAG)."""
    from topiclab.core.hookspecs import empty_links
    from topiclab.plugins import mlflow_tracker

    _, second, _, _ = tracked
    run = {
        "topic": "ridge-downstream",
        "profile": "quick",
        "config": {"seed": 1},
        "versions": {},
        "git": "",
        "flow_run_id": "",
        "links": empty_links(),
        "upstream": {"ridge": {"cache_key": "abc123", "links": second["links"]}},
        "pid": os.getpid(),
        "host": "test-host",
    }
    links = mlflow_tracker.topiclab_before_run(run=run)
    run["links"] = links
    tags = client().get_run(links["runs"]["mlflow"]).data.tags
    mlflow_tracker.topiclab_after_run(
        run=run, outcome={"status": "FINISHED", "seconds": 0.1, "error": None, "out_dir": "."}
    )
    assert tags["upstream.ridge.run_id"] == second["links"]["runs"]["mlflow"]
    assert tags["upstream.ridge.cache_key"] == "abc123"
    # The cached upstream run registered nothing; the version comes from its source run.
    assert tags["upstream.ridge.model_versions"].startswith("topiclab-ridge-ridge/")


def test_metric_keys_are_sectioned_by_stage():
    from topiclab.plugins.mlflow_tracker.results import metric_key

    assert metric_key("train", "loss") == "train/loss"
    assert metric_key("evaluate", "tsls/weak") == "eval/tsls/weak"  # one key per scenario
    assert metric_key("generate", "rows") == "data/rows"
    assert metric_key("evaluate", "claims/c1") == "claims/c1"
    assert metric_key(None, "loss") == "train/loss"


def test_logging_models_leaves_the_process_tracking_uri_as_it_was(tmp_path, monkeypatch):
    """log_models used ``mlflow.set_tracking_uri``: the process stayed pinned to the tracker's
    store (and ``MLFLOW_TRACKING_URI`` set), so a later ``MLFLOW_TRACKING_URI`` (a notebook's,
    another test's) was ignored. The model is still logged and registered in the store."""
    import mlflow
    import torch
    from mlflow.tracking._tracking_service import utils

    from topiclab.plugins.mlflow_tracker.results import log_models

    store = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setattr(utils, "_tracking_uri", None)  # as in a fresh process
    mlflow_client = mlflow.MlflowClient(store)
    run_id = mlflow_client.create_run(mlflow_client.create_experiment("t")).info.run_id
    torch.save(torch.nn.Linear(3, 1), tmp_path / "m.pt")
    run = {
        "topic": "t",
        "profile": "quick",
        "config": {"seed": 0},
        "git": "",
        "links": {"runs": {"mlflow": run_id}, "urls": {}},
    }
    log_models(run, "train", {"m": str(tmp_path / "m.pt")})  # type: ignore[arg-type]
    assert mlflow_client.search_model_versions("name='topiclab-t-m'")[0].run_id == run_id
    assert utils._tracking_uri is None and os.environ["MLFLOW_TRACKING_URI"] == store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'other.db'}")
    assert mlflow.get_tracking_uri().endswith("other.db")


def test_description_counts_claims_as_the_report_does():
    """A quick run's claim that needs standard is 'not expected' in the MLflow description,
    as in the report and the terminal summary, not FAIL; each claim shows value and anchor."""
    from topiclab.core.hookspecs import empty_links
    from topiclab.plugins.mlflow_tracker.runs import note

    run = {"topic": "t", "profile": "quick", "config": {"seed": 0}, "links": empty_links()}
    claims = [
        {"id": "a", "statement": "A holds", "value": 0.25, "anchor": "0.25 ± 0.01", "passed": True},
        {
            "id": "b",
            "statement": "B holds",
            "value": 0.1,
            "anchor": "> 1",
            "passed": False,
            "expected_in": ["standard", "full"],
        },
        {"id": "c", "statement": "C holds", "value": 3, "anchor": "< 2", "passed": False},
    ]
    text = note(run, {"status": "FINISHED"}, claims)  # type: ignore[arg-type]
    assert "Claims: 1/3 confirmed, 1 not expected of profile `quick`" in text
    assert "- PASS `a`: A holds (0.25; anchor 0.25 ± 0.01)" in text
    assert "- not expected `b`: B holds (0.1; anchor > 1)" in text
    assert "- FAIL `c`: C holds (3; anchor < 2)" in text
