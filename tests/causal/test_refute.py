"""DoWhy refuters run on their own estimand copies and give the expected verdicts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from topiclab.causal import dowhy_api
from topiclab.causal.graph import CausalGraph
from topiclab.causal.refute import RefuteConfig, refute
from topiclab.causal.validation import CausalInputError, DegenerateDesignError


def test_refuters_on_a_valid_iv(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    z, u = rng.normal(size=(2, n))
    x = z + u + rng.normal(size=n)
    df = pd.DataFrame({"Z": z, "X": x, "Y": 2 * x + 1.8 * u + rng.normal(size=n)})
    graph = "Z -> X; (U) -> X; (U) -> Y; X -> Y"
    rows = refute(
        df,
        graph,
        treatment="X",
        outcome="Y",
        std_error=0.05,
        config=RefuteConfig(num_simulations=5, confounder_strengths=[0.5]),
    )
    by = {r.refuter: r for r in rows}
    assert set(by) == {
        "placebo_treatment_refuter",
        "random_common_cause",
        "data_subset_refuter",
        "add_unobserved_common_cause(strength=0.5)",
    }
    assert all(abs(r.estimate - 2.0) < 0.15 for r in rows)
    assert by["placebo_treatment_refuter"].passed
    assert by["random_common_cause"].passed and by["data_subset_refuter"].passed
    png = CausalGraph.parse(graph).draw(tmp_path / "g.png", roles={"instruments": ["Z"]})
    assert png.stat().st_size > 1000


def _iv_data(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    z, u = rng.normal(size=(2, n))
    x = z + u
    return pd.DataFrame({"Z": z, "X": x, "Y": 2 * x + u})


@pytest.mark.parametrize("value", [None, float("nan"), float("inf")])
def test_no_finite_estimate_is_refused_not_refuted(monkeypatch, value) -> None:
    monkeypatch.setattr(dowhy_api, "estimate", lambda *a, **k: SimpleNamespace(value=value))
    with pytest.raises(DegenerateDesignError, match="no finite estimate of X -> Y"):
        refute(_iv_data(), "Z -> X; (U) -> X; (U) -> Y; X -> Y", treatment="X", outcome="Y")


def test_a_zero_estimate_without_std_error_has_no_rule_to_judge_by(monkeypatch) -> None:
    # 5 % of 0 is 0: every refuter would fail whatever it found.
    monkeypatch.setattr(dowhy_api, "estimate", lambda *a, **k: SimpleNamespace(value=0.0))
    with pytest.raises(CausalInputError, match="pass std_error"):
        refute(_iv_data(), "Z -> X; (U) -> X; (U) -> Y; X -> Y", treatment="X", outcome="Y")


@pytest.mark.parametrize("se", [0.0, -0.1, float("nan"), float("inf")])
def test_a_std_error_that_is_no_width_is_refused(se) -> None:
    with pytest.raises(CausalInputError, match="std_error must be a positive finite number"):
        refute(_iv_data(), "Z -> X; X -> Y", treatment="X", outcome="Y", std_error=se)
