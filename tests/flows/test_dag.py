"""The topic DAG: a topic that consumes another runs it first, reuses it after, gets its output
as a manifest and names its run; wrong declarations fail in one line before anything runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from topiclab.core.errors import TopiclabError
from topiclab.core.stages import work_root

pytestmark = pytest.mark.e2e


@pytest.fixture
def probe_env(plugin_env):
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.downstream_topic")
    from support import downstream_topic

    downstream_topic.RUNS.clear()
    return downstream_topic


def test_downstream_runs_its_upstream_first_then_reuses_it(prefect_harness, probe_env, tmp_path):
    from topiclab.core.dag import identity
    from topiclab.core.registry import get_registry
    from topiclab.flows.pipeline import topic_pipeline

    first = topic_pipeline("ridge-probe", "quick", ["ridge:seed=61"], None, str(tmp_path))
    # ridge ran first, in full, published beside the downstream topic.
    assert [topic for topic, _ in probe_env.RUNS] == ["ridge", "ridge-probe"]
    ridge = json.loads((tmp_path / "ridge" / "metrics.json").read_text())
    assert ridge["cached_stages"] == []
    lineage = first["upstream"]["ridge"]
    assert lineage["cache_key"] == ridge["cache_key"]
    assert lineage["links"]["runs"]["probe"] == probe_env.RUNS[0][1]  # the run that made it
    # The output arrived as a manifest of paths and hashes, and the stages read it.
    weights = work_root() / "ridge" / ridge["stage_keys"]["train"] / "train" / "weights.npy"
    handed = first_manifest(first["stage_keys"]["generate"])
    assert handed["path"] == str(weights) and handed["stage"] == "train"
    assert handed["cache_key"] == ridge["stage_keys"]["train"]  # the key of the stage that made it
    assert handed["files"]["weights.npy"]["size"] == weights.stat().st_size
    assert first["metrics"]["scaled_weight_sum"] == pytest.approx(2 * np.load(weights).sum())

    again = topic_pipeline("ridge-probe", "quick", ["ridge:seed=61"], None, str(tmp_path))
    assert [topic for topic, _ in probe_env.RUNS[2:]] == ["ridge-probe"]  # ridge reused, no run
    assert again["upstream"] == first["upstream"]
    assert again["cached_stages"] == ["generate", "train", "evaluate", "report"]

    # The downstream cache key covers the upstream's: another ridge config, another key.
    other = identity(get_registry(), "ridge-probe", "quick", ["ridge:seed=62"])
    assert other.config == identity(get_registry(), "ridge-probe", "quick", []).config
    assert other.cache_key != first["cache_key"]


def test_prefect_asset_graph_shows_the_topic_dag(prefect_harness, probe_env, tmp_path):
    """Each pipeline run materializes its topic's asset; the downstream one names the
    upstream asset as its dependency, read back from the Prefect API."""
    from topiclab.flows.assets import asset_key
    from topiclab.flows.pipeline import topic_pipeline

    result = topic_pipeline("ridge-probe", "quick", ["ridge:seed=63"], None, str(tmp_path))
    ridge = json.loads((tmp_path / "ridge" / "metrics.json").read_text())
    probe = materialization(asset_key("ridge-probe", "quick"), result["cache_key"])
    upstream = {r.id for r in probe.related if r.role == "asset"}
    assert upstream == {"topiclab://topics/ridge/quick"}
    assert probe.payload["upstream"]["ridge"]["cache_key"] == ridge["cache_key"]
    made = materialization("topiclab://topics/ridge/quick", ridge["cache_key"])
    assert not [r for r in made.related if r.role == "asset"]  # ridge consumes nothing


def materialization(key: str, cache_key: str, wait: float = 60) -> Any:
    """The asset's materialization event with this cache key (the server stores events a
    moment after they are sent)."""
    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    name = EventNameFilter(name=["prefect.asset.materialization.succeeded"])
    query = EventFilter(event=name, resource=EventResourceFilter(id=[key]))
    deadline = time.monotonic() + wait
    while True:
        with get_client(sync_client=True) as client:
            events = client.read_events(query, limit=50).events  # the server allows ≤ 50
        found = [e for e in events if e.payload.get("cache_key") == cache_key]
        if found or time.monotonic() > deadline:
            assert found, f"no materialization of {key} with cache key {cache_key}: {events}"
            return found[0]
        time.sleep(1)


def first_manifest(generate_key: str) -> dict:
    marker = work_root() / "ridge-probe" / generate_key / "generate" / ".done.json"
    return json.loads(marker.read_text())["result"]["data"]["weights"]


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("cycle-a", "topics consume each other in a cycle: cycle-a -> cycle-b -> cycle-a"),
        ("orphan", "topic 'orphan' consumes unknown topic 'nosuch'; registered: "),
    ],
)
def test_wrong_dependencies_fail_in_one_line_before_anything_runs(
    prefect_harness, plugin_env, tmp_path, topic, message
):
    from topiclab.flows.pipeline import suite, topic_pipeline

    plugin_env.setenv("TOPICLAB_PLUGINS", "support.bad_dag")
    for run in (
        lambda: topic_pipeline(topic, "quick", None, None, str(tmp_path)),
        lambda: suite([topic], "quick", None, None, str(tmp_path / "suite")),
    ):
        with pytest.raises(TopiclabError) as err:
            run()
        assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert not (work_root() / topic).exists() and not (tmp_path / topic).exists()
    assert not Path(tmp_path / "suite").exists()


def test_suite_order_puts_upstream_topics_first(probe_env):
    from topiclab.core.dag import order, waves, with_upstream
    from topiclab.core.registry import get_registry

    reg = get_registry()
    assert order(reg, ["ridge-probe", "ridge"]) == ["ridge", "ridge-probe"]
    assert waves(reg, ["ridge-probe", "diffusion", "ridge"]) == [
        ["ridge", "diffusion"],
        ["ridge-probe"],
    ]
    assert waves(reg, ["ridge-probe"]) == [["ridge-probe"]]  # it runs its upstream itself
    assert with_upstream(reg, ["ridge-probe"]) == ["ridge", "ridge-probe"]  # what a suite runs


def test_suite_skips_a_topic_whose_upstream_failed(prefect_harness, plugin_env, tmp_path):
    from topiclab.flows.pipeline import SuiteFailed, suite

    plugin_env.setenv("TOPICLAB_PLUGINS", "support.failing_topic,support.bad_dag")
    with pytest.raises(SuiteFailed, match="2 of 2 topics failed: failing, failing-probe"):
        suite(["failing-probe"], "quick", None, None, str(tmp_path))  # its upstream joins
    index = (tmp_path / "index.md").read_text()
    assert "upstream topic failing failed" in index
    from topiclab.flows.pipeline import topic_pipeline

    with pytest.raises(TopiclabError, match="upstream topic 'failing' failed: RuntimeError: train"):
        topic_pipeline("failing-probe", "quick", None, None, str(tmp_path / "one"))


def test_a_clean_of_the_upstream_stage_it_reads_recomputes_it(
    prefect_harness, probe_env, tmp_path, monkeypatch
):
    """ridge's train is reused, then removed (``topiclab cache clean``) before ridge-probe's
    generate locks it to read: the run starts over, recomputes ridge's train, and finishes."""
    import shutil

    from topiclab.core import stages
    from topiclab.flows.pipeline import topic_pipeline

    topic_pipeline("ridge", "quick", ["seed=71"], None, str(tmp_path))
    real, seen = stages._reading, []

    def clean_first(folder: Path, label: str, log: Any) -> Any:
        if not seen and folder.parts[-3] == "ridge" and folder.name == "train":
            seen.append(folder)
            shutil.rmtree(folder)
        return real(folder, label, log)

    monkeypatch.setattr(stages, "_reading", clean_first)
    out = topic_pipeline("ridge-probe", "quick", ["ridge:seed=71"], None, str(tmp_path))
    assert seen and (seen[0] / "weights.npy").is_file()  # ridge's train, computed again
    # ridge ran again, as a subflow of the probe's run (its tracked run had started)
    assert [topic for topic, _ in probe_env.RUNS] == ["ridge", "ridge-probe", "ridge"]
    assert out["metrics"]["scaled_weight_sum"] == pytest.approx(
        2 * np.load(seen[0] / "weights.npy").sum()
    )
