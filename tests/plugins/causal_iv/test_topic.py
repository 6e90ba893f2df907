"""The causal-iv topic end to end on the quick profile, through ``run_direct``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry
from topiclab.core.stages import run_direct
from topiclab.core.topic import StageResult

# Claims whose verdict does not depend on Monte-Carlo size: they must hold even on "quick".
EXACT = {
    "wald_equals_2sls",
    "control_function_equals_2sls",
    "card_ols",
    "card_2sls",
    "card_first_stage",
    "ols_biased",
    "tsls_recovers",
    "invalid_bias",
    "sieve_vs_forbidden",
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StageResult]:
    return run_direct("causal-iv", "quick", root=tmp_path_factory.mktemp("quick"))


def test_topic_is_registered() -> None:
    reg = get_registry()
    assert "causal-iv" in reg.topics
    assert reg.owner[("topic", "causal-iv")] == "causal-iv"


def test_stage_outputs(quick: dict[str, StageResult]) -> None:
    for name in ("reference", "nonlinear", "icp_train", "icp_test", "card"):
        assert Path(quick["generate"].files[name]).is_file()
    trained = quick["train"]
    assert {"iv.2sls", "iv.wald", "backdoor.ols", "icp", "iv.sieve_2sls"} <= set(trained.children)
    cov = pd.read_csv(trained.files["coverage"])
    assert len(cov) == 30 and {"tsls", "tsls_covers", "first_stage_f", "ols"} <= set(cov.columns)
    ev = quick["evaluate"]
    for name in ("estimates", "monte_carlo", "icp_accepted_sets", "icp_variables", "refutations"):
        assert Path(ev.tables[name]).is_file()
    for name in ("coverage", "iv_graph", "icp_estimated_graph", "sieve_vs_forbidden"):
        assert Path(ev.figures[name]).stat().st_size > 1000
    assert "iv" in ev.sections["Identified estimand"]
    report = Path(quick["report"].files["report.md"]).read_text()
    assert "ICP" in report and "refutations" in report and "Identified estimand" in report


def test_claims(quick: dict[str, StageResult]) -> None:
    claims = {c.id: c for c in quick["evaluate"].claims}
    assert set(claims) >= EXACT
    assert {
        "tsls_coverage",
        "ols_coverage",
        "weak_f",
        "weak_coverage",
        "icp_no_false_parents",
        "icp_stable_under_new_intervention",
        "refuters",
    } <= set(claims)
    failed = [f"{i}: {claims[i].value}" for i in sorted(EXACT) if not claims[i].passed]
    assert not failed
    assert claims["card_2sls"].value == 0.1242 and claims["card_ols"].value == 0.0712


def test_determinism(quick: dict[str, StageResult], tmp_path: Path) -> None:
    again = run_direct("causal-iv", "quick", root=tmp_path)
    assert again["evaluate"].metrics == quick["evaluate"].metrics
    assert again["train"].children == quick["train"].children


def test_estimator_swap_by_config_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        run_direct("causal-iv", "quick", overrides=["estimators.nope=x"], root=tmp_path)


def test_a_non_finite_metric_fails_every_claim_that_uses_it(
    quick: dict[str, StageResult],
) -> None:
    from topiclab.core.config import resolve_config
    from topiclab.plugins.causal_iv.claims import build_claims

    cfg = resolve_config(type(get_registry().topic("causal-iv")), "quick")
    nan, inf = float("nan"), float("inf")
    m = {**quick["evaluate"].metrics, "icp_mse_ratio": inf, "coverage_tsls": nan}
    claims = {c.id: c for c in StageResult(metrics=m, claims=build_claims(cfg, m)).claims}
    # inf >= 3 compares True, and min(0.93, nan) is 0.93: the comparisons alone would pass.
    assert not claims["icp_stable_under_new_intervention"].passed
    assert (
        not claims["weak_coverage"].passed
        and "coverage_tsls is nan" in claims["weak_coverage"].note
    )
    assert not claims["tsls_coverage"].passed
    assert claims["card_2sls"].passed and not claims["card_2sls"].note


def test_claims_cite_papers_and_quick_paints_only_its_own_claims_red(quick):
    import re

    from topiclab.core.topic import verdict

    for c in quick["evaluate"].claims:
        assert c.source and not re.search(r"issue \d|reference (page )?\d", c.source), c
        assert verdict(c, "quick") != "FAIL", c  # a failure quick is not expected to avoid


def test_each_scenario_logs_its_own_step_series(quick, plugin_env, tmp_path) -> None:
    """Monte-Carlo estimates per repetition go to one key per scenario (train/weak/tsls in
    MLflow), never one key shared by all scenarios (their curves would be drawn as one)."""
    from support import step_recorder

    from topiclab.core.config import resolve_config
    from topiclab.core.stages import execute_stage

    plugin_env.setenv("TOPICLAB_PLUGINS", "support.step_recorder")
    step_recorder.STEPS.clear()
    config = resolve_config(get_registry().topics["causal-iv"], "quick").model_dump(mode="json")
    run = {"topic": "causal-iv", "profile": "quick"}
    execute_stage("causal-iv", "train", "quick", config, tmp_path, [quick["generate"]], run)
    keys = {k for step, metrics in step_recorder.STEPS if step is not None for k in metrics}
    assert {"coverage/tsls", "weak/tsls", "invalid/tsls", "weak/ols"} <= keys
    assert not {"tsls", "ols"} & keys
    steps = [s for s, m in step_recorder.STEPS if "weak/tsls" in m]
    assert steps == sorted(set(steps)) and len(steps) > 1
