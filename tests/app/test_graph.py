"""``topiclab graph``: the DAG of topics and the trainers and estimators their configs name."""

from topiclab.app.graph import edges, mermaid
from topiclab.core.registry import get_registry


def test_graph_shows_consumed_topics_and_registry_keys(plugin_env):
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.downstream_topic")
    reg = get_registry()
    found = {(e.source, e.target, e.kind) for e in edges(reg, "quick")}
    assert ("ridge-probe", "ridge", "consumes") in found
    labels = {e.label for e in edges(reg, "quick") if e.source == "compression"}
    assert labels == {"model (train) as model", "val_text (generate) as held_out"}
    assert ("llama", "trainer:llama", "trainer") in found
    assert ("causal-iv", "estimator:iv.2sls", "estimator") in found
    chart = mermaid(reg, "quick")
    assert chart.startswith("flowchart LR") and "==>|consumes|" in chart
