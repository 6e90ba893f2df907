"""End-to-end: the ridge topic (example plugin) through Prefect and MLflow, quick profile.

Asserts the MLflow run, its metrics, figure and report artifacts, ``metrics.json``; a re-run
hitting the cache; reproducibility. (A killed run resuming without regenerating its data:
tests/plugins/test_mlflow_tracker_stores.py.)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def first_run(prefect_harness, tmp_path_factory):
    from topiclab.core.registry import reset_registry
    from topiclab.flows.pipeline import topic_pipeline

    reset_registry()
    out = tmp_path_factory.mktemp("out")
    start = time.perf_counter()
    result = topic_pipeline("ridge", "quick", ["seed=11"], None, str(out))
    return result, time.perf_counter() - start, out


def client():
    from mlflow.tracking import MlflowClient

    return MlflowClient(os.environ["MLFLOW_TRACKING_URI"])


def test_metrics_json_follows_the_output_contract(first_run):
    result, _, out = first_run
    data = json.loads((out / "ridge" / "metrics.json").read_text())
    assert data == result
    assert {"topic", "profile", "metrics", "claims", "links", "seconds"} <= set(data)
    assert data["topic"] == "ridge" and data["profile"] == "quick"
    assert all(isinstance(v, float) for v in data["metrics"].values())
    for claim in data["claims"]:
        assert {"id", "statement", "value", "anchor", "passed"} <= set(claim)
    assert (out / "ridge" / "report.html").stat().st_size > 1000
    assert "data:image/png;base64" in (out / "ridge" / "report.html").read_text()
    assert (out / "ridge" / "report.md").exists()
    assert list((out / "ridge" / "figures").glob("*.png"))


def test_mlflow_run_has_params_metrics_figure_and_report(first_run):
    result, _, _ = first_run
    run = client().get_run(result["links"]["runs"]["mlflow"])
    assert run.info.status == "FINISHED"
    assert run.data.params["seed"] == "11" and run.data.params["steps"] == "150"
    assert run.data.tags["topic"] == "ridge" and run.data.tags["seed"] == "11"
    assert run.data.tags["version.torch"].startswith("2.13.0")
    assert run.data.tags["prefect_flow_run_id"]
    gap = result["metrics"]["max_coef_gap"]
    assert run.data.metrics["eval/max_coef_gap"] == pytest.approx(gap)
    history = client().get_metric_history(run.info.run_id, "train/loss")
    assert len(history) == 150 and history[-1].value < history[0].value
    names = {a.path for a in client().list_artifacts(run.info.run_id)}
    assert {"report.html", "report.md", "config.json", "claims.json", "figures"} <= names
    figures = {a.path for a in client().list_artifacts(run.info.run_id, "figures")}
    assert "figures/coefficients.png" in figures
    # Tables as MLflow tables: the JSON artifact, the tag the UI lists them by, readable back.
    assert {"path": "tables/coefficients.json", "type": "table"} in json.loads(
        run.data.tags["mlflow.loggedArtifacts"]
    )
    table = client().load_table(
        run.info.experiment_id, "tables/coefficients.json", [run.info.run_id]
    )
    assert len(table) == result["metrics"].get("features", len(table)) and len(table) > 0


def test_model_is_logged_and_registered(first_run):
    import mlflow.pytorch
    import numpy as np
    import torch

    result, _, _ = first_run
    versions = client().search_model_versions("name='topiclab-ridge-ridge'")
    mine = [v for v in versions if v.run_id == result["links"]["runs"]["mlflow"]]
    assert len(mine) == 1
    model = mlflow.pytorch.load_model(f"models:/topiclab-ridge-ridge/{mine[0].version}")
    x = torch.ones(1, model.in_features, dtype=torch.float64)
    from topiclab.core.dag import identity
    from topiclab.core.registry import get_registry
    from topiclab.core.stages import stage_dir, work_root

    keys = identity(get_registry(), "ridge", "quick", ["seed=11"]).stage_keys
    weights = np.load(stage_dir(work_root(), "ridge", keys["train"], "train") / "weights.npy")
    assert model(x).item() == pytest.approx(float(weights.sum()), rel=1e-9)


def test_rerun_hits_the_cache(first_run):
    from topiclab.flows.pipeline import topic_pipeline

    result, first_seconds, out = first_run
    start = time.perf_counter()
    again = topic_pipeline("ridge", "quick", ["seed=11"], None, str(out))
    seconds = time.perf_counter() - start
    assert again["cached_stages"] == ["generate", "train", "evaluate", "report"]
    assert again["metrics"] == result["metrics"]
    assert again["links"]["runs"] != result["links"]["runs"]  # every run is recorded
    print(f"first run {first_seconds:.2f} s, cached re-run {seconds:.2f} s")


def test_results_home_lists_runs_of_separate_invocations(first_run, tmp_path, monkeypatch):
    """Two runs without --out (cached: the first run computed them) land in
    results/<timestamp>/ each; results/index.html lists both, the newest first."""
    from topiclab.flows.pipeline import topic_pipeline

    monkeypatch.chdir(tmp_path)
    runs = [topic_pipeline("ridge", "quick", ["seed=11"])["links"]["runs"] for _ in range(2)]
    page = (tmp_path / "results" / "index.html").read_text()
    rows = page.split("<tbody>")[1].split("</tr>")[:-1]
    assert len(rows) == 2
    for row, ids in zip(rows, reversed(runs), strict=True):
        assert ids["mlflow"] in row and "<td>ridge</td><td>quick</td>" in row


def test_no_cache_recomputes_the_same_numbers(first_run):
    from topiclab.flows.pipeline import topic_pipeline

    result, _, out = first_run
    again = topic_pipeline("ridge", "quick", ["seed=11"], None, str(out), use_cache=False)
    assert again["cached_stages"] == []
    assert again["metrics"] == result["metrics"]  # bit-identical: same seed, same config
    # ...because training really ran again: time spent and every step logged (issue 10).
    assert again["stage_seconds"]["train"] > 0
    history = client().get_metric_history(again["links"]["runs"]["mlflow"], "train/loss")
    assert [m.step for m in history] == list(range(150))


# A train stage killed mid-way resumes without regenerating its data: checked on the kill
# and restart of tests/plugins/test_mlflow_tracker_stores.py (a killed run closed as KILLED).


def test_suite_isolates_a_failing_topic(prefect_harness, plugin_env, tmp_path):
    from topiclab.flows.pipeline import SuiteFailed, suite

    plugin_env.setenv("TOPICLAB_PLUGINS", "support.failing_topic")
    (tmp_path / "failing").mkdir()
    (tmp_path / "failing" / "metrics.json").write_text('{"from": "an earlier run"}')
    with pytest.raises(SuiteFailed, match="1 of 2 topics failed: failing"):
        suite(["failing", "ridge"], "quick", None, None, str(tmp_path))
    assert (tmp_path / "ridge" / "metrics.json").exists()
    # The earlier run's verdict is kept aside, not shown as this run's, and not deleted.
    assert not (tmp_path / "failing" / "metrics.json").exists()
    assert "earlier run" in (tmp_path / "failing" / "metrics.previous.json").read_text()
    index = (tmp_path / "index.md").read_text()
    assert "| failing | failed |" in index and "| ridge | ok |" in index
    runs = client().search_runs([client().get_experiment_by_name("topiclab-failing").experiment_id])
    assert runs[0].info.status == "FAILED" and "train failed" in runs[0].data.tags["error"]


def test_suite_runs_are_named_after_their_topics_and_profile(monkeypatch):
    from topiclab.flows import pipeline

    params = {"topics": ["causal-iv", "ridge"], "profile": "quick"}
    monkeypatch.setattr(pipeline.flow_run, "get_parameters", lambda: params)
    assert pipeline._suite_run_name() == "suite-quick-causal-iv+ridge"
    params.update(topics=None, profile="standard")
    assert pipeline._suite_run_name() == "suite-standard-all-topics"
