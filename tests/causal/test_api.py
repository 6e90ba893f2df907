"""The library's surface: light import, identification cached once per (graph, roles),
readable summaries."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from topiclab.causal import BackdoorOLS, TwoStageLeastSquares, dowhy_api
from topiclab.causal import identify as identify_module


def test_import_is_light() -> None:
    code = (
        "import sys, topiclab.causal; "
        "print(sorted(m for m in ('dowhy', 'scipy.stats', 'networkx', 'matplotlib', "
        "'statsmodels', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def frame(seed: int = 0, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z, w, u = rng.normal(size=(3, n))
    x = z + w + u + rng.normal(size=n)
    return pd.DataFrame({"Z": z, "W": w, "X": x, "Y": 2 * x + w + u + rng.normal(size=n)})


def test_identification_runs_once_per_graph_and_roles() -> None:
    graph = "Z -> X; W -> X; W -> Y; (U) -> X; (U) -> Y; X -> Y; (V) -> W"
    before = identify_module.calls["identified"], dowhy_api.counts["identified"]
    est = TwoStageLeastSquares({"use_dowhy": True})
    for seed in range(5):
        est.fit(frame(seed), graph, treatment="X", outcome="Y", covariates="W")
    after = identify_module.calls["identified"], dowhy_api.counts["identified"]
    assert after[0] - before[0] == 1  # ours: one identification for five fits
    assert after[1] - before[1] == 1  # DoWhy's: likewise


def test_summary_and_frame_are_readable() -> None:
    res = BackdoorOLS({"cov_type": "HC3"}).fit(
        frame(), "W -> X; W -> Y; X -> Y; Z -> X", treatment="X", outcome="Y"
    )
    text = str(res.summary())
    for part in ("backdoor.ols", "estimand:", "assumes:", "cov HC3", "std_error", "p_value"):
        assert part in text
    assert list(res.to_frame().index) == ["const", "X", "W"]
    assert res.summary()["estimate"] == res.estimate  # still the flat dict it was
    iv = TwoStageLeastSquares({"use_dowhy": False}).fit(
        frame(), None, treatment="X", outcome="Y", instruments="Z", covariates="W"
    )
    assert "first stage (X):" in str(iv.summary())
    assert [t.name for t in iv.first_stage] == ["const", "Z", "W"]


def test_an_estimator_without_estimate_says_what_to_define() -> None:
    from topiclab.causal.base import CausalEstimator

    class Half(CausalEstimator):
        key = "half"
        needs = "none"

    data = pd.DataFrame({"t": np.arange(20.0), "y": np.arange(20.0)})
    with pytest.raises(NotImplementedError, match="Half must define _estimate"):
        Half().fit(data, treatment="t", outcome="y")
