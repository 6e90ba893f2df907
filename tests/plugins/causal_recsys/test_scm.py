"""The SCM part of causal-recsys: Pearl's front-door table exactly, our linear backdoor and
front-door estimates against DoWhy's on the same DataFrame, identification from a graph."""

from __future__ import annotations

import pandas as pd
import pytest

from topiclab.causal.dowhy_api import quiet
from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry
from topiclab.plugins.causal_recsys import data as d


def test_front_door_on_the_primer_table_through_the_registry() -> None:
    fd = get_registry().estimator("frontdoor.exact").create({"n_boot": 0})
    res = fd.fit(d.primer_frame(), d.PRIMER_GRAPH, treatment="Smoking", outcome="Cancer")
    assert abs(res.diagnostics["E[Y|do(T=1)]"] - 0.5475) < 1e-12
    assert abs(res.diagnostics["E[Y|do(T=0)]"] - 0.5025) < 1e-12
    assert abs(res.estimate - 0.045) < 1e-12


@pytest.fixture(scope="module")
def scm() -> pd.DataFrame:
    return d.simulate_scm(d.rng_for(0, "dowhy"), 20_000)


def _dowhy(df: pd.DataFrame, graph: str, method: str) -> float:
    from dowhy import CausalModel

    from topiclab.causal.graph import CausalGraph

    with quiet():
        model = CausalModel(
            data=df, treatment="X", outcome="Y", graph=CausalGraph.parse(graph).to_networkx()
        )
        # estimate_effect mutates the estimand it is given, so each call identifies afresh.
        # (A deep copy will not do here: DoWhy 0.14's front-door stage fails on a deep-copied
        # fresh estimand with "'NoneType' object is not subscriptable".)
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
        return float(model.estimate_effect(estimand, method_name=method).value)


def test_linear_backdoor_equals_dowhy_with_u_observed(scm: pd.DataFrame) -> None:
    ours = get_registry().estimator("backdoor.ols").create()
    res = ours.fit(scm, d.SCM_OBSERVED, treatment="X", outcome="Y")
    assert res.diagnostics["covariates"] == ["U"]  # the graph chose the adjustment set
    theirs = _dowhy(scm, d.SCM_OBSERVED, "backdoor.linear_regression")
    assert abs(res.estimate - theirs) < 1e-10
    assert abs(res.estimate - d.TRUE_ACE) < 0.03  # linear in (X, U) here: E[Y|x,u] is additive


def test_linear_front_door_equals_dowhy_with_u_hidden(scm: pd.DataFrame) -> None:
    hidden = scm.drop(columns="U")
    ours = get_registry().estimator("frontdoor.two_stage_regression").create()
    res = ours.fit(hidden, d.SCM_HIDDEN, treatment="X", outcome="Y")
    assert res.diagnostics["mediators"] == ["M"]
    theirs = _dowhy(hidden, d.SCM_HIDDEN, "frontdoor.two_stage_regression")
    assert abs(res.estimate - theirs) < 1e-10
    # Naive would be ≈ 0.42: the front door removes the confounding without seeing U.
    assert abs(res.estimate - d.TRUE_ACE) < 0.03


def test_identification_picks_backdoor_then_front_door() -> None:
    assert d.identify_effect(d.SCM_OBSERVED) == d.Identified("backdoor", ["U"])
    assert d.identify_effect(d.SCM_HIDDEN) == d.Identified("frontdoor", ["M"])


def test_a_non_identifiable_graph_is_one_line_naming_the_open_path() -> None:
    # A direct X -> Y edge bypasses the mediator, and U is hidden: neither criterion holds.
    graph = "(U) -> X; (U) -> Y; X -> M; M -> Y; X -> Y"
    with pytest.raises(d.NotIdentifiableError) as err:
        d.identify_effect(graph)
    message = str(err.value)
    assert "\n" not in message
    assert "not identifiable" in message and "X <- (U) -> Y" in message


def test_the_config_refuses_a_non_identifiable_graph_before_running() -> None:
    from topiclab.core.config import resolve_config

    topic = get_registry().topics["causal-recsys"]
    with pytest.raises(ConfigError) as err:
        resolve_config(topic, "quick", overrides=["scm.graph=(U) -> X; (U) -> Y; X -> Y"])
    assert "scm.graph" in str(err.value) and "X <- (U) -> Y" in str(err.value)
    assert "\n" not in str(err.value)


def test_the_naive_closed_form_and_the_simulated_truth() -> None:
    assert abs(d.naive_closed_form() - 0.4178) < 1e-4
    do1 = d.simulate_scm(d.rng_for(0, "t", 1), 200_000, do_x=1)["Y"].mean()
    do0 = d.simulate_scm(d.rng_for(0, "t", 0), 200_000, do_x=0)["Y"].mean()
    assert abs((do1 - do0) - d.TRUE_ACE) < 0.01
