"""The built-in plugin registers every estimator; a topic or user builds them by key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from topiclab.core.errors import UnknownKeyError
from topiclab.core.registry import build_registry

KEYS = {
    "iv.2sls",
    "iv.wald",
    "iv.control_function",
    "iv.sieve_2sls",
    "iv.forbidden_regression",
    "backdoor.ols",
    "backdoor.regression_adjustment",
    "backdoor.propensity_score_weighting",
    "backdoor.propensity_score_matching",
    "backdoor.propensity_score_stratification",
    "backdoor.exact_adjustment",
    "backdoor.aipw",
    "frontdoor.two_stage_regression",
    "frontdoor.exact",
    "icp",
}


def test_estimators_registered_by_the_plugin() -> None:
    reg = build_registry(strict=True)
    assert set(reg.estimators) >= KEYS
    for key in KEYS:
        spec = reg.estimator(key)
        assert spec.config is not None and spec.summary
        # the docstring's first paragraph, whole (`topiclab list` shows its first sentence)
        assert spec.summary.endswith(".") and "\n" not in spec.summary, spec.summary
        assert reg.owner[("estimator", key)] == "causal-estimators"
    assert reg.estimator("iv.2sls", kind="iv").kind == "iv"
    with pytest.raises(UnknownKeyError):
        reg.estimator("icp", kind="iv")


def test_build_from_registry_with_config() -> None:
    reg = build_registry(strict=True)
    spec = reg.estimator("iv.2sls")
    est = spec.build({"cov_type": "robust", "use_dowhy": False})
    rng = np.random.default_rng(0)
    z, u = rng.normal(size=(2, 500))
    x = z + u + rng.normal(size=500)
    res = est.fit(
        pd.DataFrame({"Z": z, "X": x, "Y": 2 * x + u}),
        None,
        treatment="X",
        outcome="Y",
        instruments=["Z"],
    )
    assert res.diagnostics["cov_type"] == "robust"
    assert res.model_dump_json()  # JSON-able as it is
    with pytest.raises(ValueError):
        spec.build({"cov_typ": "robust"})
