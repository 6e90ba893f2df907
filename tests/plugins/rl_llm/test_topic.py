"""The rl-llm topic end to end (quick profile, a tiny upstream model), failure isolation, and
config validation.

PYTHONPATH=$PWD .venv/bin/pytest tests/plugins/rl_llm/test_topic.py -q
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from support.rl_llm import run_quick

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry
from topiclab.core.topic import verdict
from topiclab.nn import preference as P


def test_quick_run_outputs(quick: dict) -> None:
    ev = quick["evaluate"]
    m = ev.metrics
    assert m["dpo_init_loss"] == pytest.approx(0.693147, abs=1e-6)
    assert set(ev.figures) >= {"frontier", "ablation", "lm_gold", "overoptimisation"}
    for path in [*ev.figures.values(), *ev.tables.values()]:
        assert Path(path).stat().st_size > 0
    for method in ("SFT", "ppo", "dpo", "ipo", "slic-hf"):
        assert 0 <= m.get(f"lm_{method}_win_rate", 0.5) <= 1, method
    report = Path(quick["report"].files["report.md"]).read_text()
    assert "Every method finished." in report and "reward–KL frontier" in report


def test_claims_cite_papers_and_quick_fails_none_it_is_not_expected_to_pass(quick: dict) -> None:
    claims = {c.id: c for c in quick["evaluate"].claims}
    assert {
        "dpo_init_log2",
        "closed_form_toy",
        "ppo_ratio_first_minibatch",
        "exact_dpo_reaches_optimum",
        "exact_ppo_reward",
        "exact_frontier",
        "exact_rm_bayes",
        "overoptimisation",
        "ablation_kl_penalty",
        "lm_rm_bayes",
        "lm_dpo_beats_sft",
    } <= set(claims)
    for c in claims.values():
        assert c.source and not re.search(r"issue \d|reference (page )?\d", c.source), c
        assert verdict(c, "quick") != "FAIL", c


def test_a_diverging_method_fails_that_method_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(P, "dpo_loss", lambda pw, *a: pw * float("nan"))
    results = run_quick(tmp_path)
    errors = results["train"].data["errors"]
    assert errors and all("dpo@" in k or k == "lm/dpo" for k in errors), errors
    assert all("TrainingDiverged" in v for v in errors.values())
    m = results["evaluate"].metrics
    assert "lm_dpo_win_rate" not in m and "lm_ipo_win_rate" in m and "exact_ppo_b1_reward" in m
    report = Path(results["report"].files["report.md"]).read_text()
    assert "These methods failed" in report and "lm/dpo" in report


def test_config_refuses_an_unknown_method_and_bad_options() -> None:
    topic = get_registry().topics["rl-llm"]
    with pytest.raises(ConfigError, match="nosuch"):
        resolve_config(topic, "quick", overrides=['lm.methods={"nosuch": {}}'])
    with pytest.raises(ConfigError, match="beta"):
        resolve_config(topic, "quick", overrides=['exact.methods={"ppo": {}, "dpo": {"beta": -1}}'])


def test_scalar_scores_sum_over_the_response_only() -> None:
    class Const(torch.nn.Module):
        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return torch.ones(tokens.shape, dtype=torch.float32)

    assert torch.equal(
        P.scalar_scores(Const(), torch.zeros(2, 7, dtype=torch.long), 3), torch.tensor([4.0, 4.0])
    )
