"""causal-recsys end to end on the quick profile, the IPS loss check, a third party's
recommender compared by key and a broken one reported by name, and the metrics by hand."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from topiclab.core.errors import ConfigError, TopiclabError
from topiclab.core.registry import get_registry, reset_registry
from topiclab.core.stages import run_direct
from topiclab.core.topic import StageResult, verdict
from topiclab.nn.recommenders import InteractionLog
from topiclab.plugins.causal_recsys.evaluate import gini, ranking_metrics
from topiclab.plugins.causal_recsys.train import require_a_fit

# Claims whose verdict does not depend on sample size: they hold on quick too.
EXACT = {"primer_front_door", "intervention_is_truth"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StageResult]:
    return run_direct("causal-recsys", "quick", root=tmp_path_factory.mktemp("quick"))


def test_stage_outputs_and_report(quick: dict[str, StageResult]) -> None:
    ev = quick["evaluate"]
    for name in ("scm_estimates", "ranking", "loss_check", "fits"):
        assert Path(ev.tables[name]).is_file()
    for name in ("scm_estimates", "popularity_bias", "user_graph", "pda_graph", "ndcg"):
        assert Path(ev.figures[name]).stat().st_size > 1000
    ranking = pd.read_csv(ev.tables["ranking"]).set_index("method")
    assert {"popularity", "bpr-mf", "bpr-ips", "bpr-snips", "pd", "pda"} <= set(ranking.index)
    assert (ranking["worlds"] == 2).all() and ranking["ndcg20_se"].notna().all()
    report = Path(quick["report"].files["report.md"]).read_text()
    assert "NDCG" in report or "ndcg20" in report


def test_claims(quick: dict[str, StageResult]) -> None:
    claims = {c.id: c for c in quick["evaluate"].claims}
    assert {"naive_biased", "backdoor_recovers", "frontdoor_recovers", "pd_gamma"} <= set(claims)
    assert {"mf_amplifies_popularity", "pd_beats_mf", "pda_beats_mf", "ips_helps"} <= set(claims)
    assert all(claims[i].passed for i in EXACT), [claims[i] for i in EXACT]
    for c in claims.values():
        assert c.source and not re.search(r"issue \d|reference|shared/", c.source), c
        assert verdict(c, "quick") != "FAIL", c


def test_ips_estimate_of_a_fixed_models_loss_is_unbiased_and_naive_is_not(
    quick: dict[str, StageResult],
) -> None:
    loss = pd.read_csv(quick["train"].files["loss_check"])
    truth = loss["truth"].iloc[0]
    se = loss.std(ddof=1) / np.sqrt(len(loss))
    bias = loss.mean() - truth
    assert abs(bias["ips"]) < 2 * se["ips"], (bias["ips"], se["ips"])
    assert abs(bias["naive"]) > 10 * se["naive"]  # shown pairs are the popular ones
    assert loss["ips"].std() > loss["naive"].std()  # unbiased, at a price


def test_a_broken_recommender_fails_alone_and_a_third_partys_is_compared(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, with_plugins: Callable[..., str]
) -> None:
    monkeypatch.setenv("TOPICLAB_PLUGINS", with_plugins("support.recsys_plugins"))
    reset_registry()
    try:
        _broken_and_third_party(tmp_path)
    finally:
        monkeypatch.undo()
        reset_registry()


def _broken_and_third_party(tmp_path: Path) -> None:
    recs = 'recommenders=["popularity", "bpr-mf", "cooccurrence", "broken-fit"]'
    out = run_direct(
        "causal-recsys",
        "quick",
        # U measured in the user's graph: the topic adjusts for it (backdoor) this time.
        overrides=[
            recs,
            "world.seeds=1",
            "loss_check.seeds=2",
            "scm.n=2000",
            "scm.graph=U -> X; U -> Y; X -> M; M -> Y",
        ],
        root=tmp_path,
    )
    ev = out["evaluate"]
    ranking = pd.read_csv(ev.tables["ranking"]).set_index("method")
    assert ranking.loc["broken-fit", "worlds"] == 0
    assert "fit is broken on purpose" in ranking.loc["broken-fit", "error"]
    for key in ("popularity", "bpr-mf", "cooccurrence"):
        assert ranking.loc[key, "worlds"] == 1 and ranking.loc[key, "ndcg20"] > 0
    assert ev.metrics["failed_recommenders"] == 1
    assert "broken-fit" in ev.sections["How to read this"]
    assert "cooccurrence.ndcg20" in ev.metrics and "broken-fit.ndcg20" not in ev.metrics
    scm = pd.read_csv(ev.tables["scm_estimates"])
    user, backdoor = scm.iloc[-1], scm.set_index("estimate").loc["backdoor, U observed"]
    assert "backdoor over ['U']" in user["estimate"]
    assert user["value"] == backdoor["value"]


def test_an_unknown_recommender_key_is_refused_before_running(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"recommenders.*nosuch.*choose from"):
        run_direct("causal-recsys", "quick", overrides=['recommenders=["nosuch"]'], root=tmp_path)
    with pytest.raises(ConfigError, match=r"options\.pd"):
        run_direct("causal-recsys", "quick", overrides=['options.pd={"dim": 0}'], root=tmp_path)


def test_recommenders_are_registered_for_the_recommender_task() -> None:
    reg = get_registry()
    for key in ("popularity", "bpr-mf", "bpr-ips", "bpr-snips", "pd", "pda"):
        assert reg.trainer(key, task="recommender").key == key


def _log(users: list[int], items: list[int], clicks: list[float], n_users: int, n_items: int):
    u, i = np.array(users), np.array(items)
    return InteractionLog(u, i, np.array(clicks, np.float32), np.ones(len(u)), n_users, n_items)


def test_gini_and_ranking_metrics_by_hand() -> None:
    assert gini(np.array([1, 1, 1, 1])) == 0
    assert abs(gini(np.array([0, 0, 0, 4])) - 0.75) < 1e-12  # (n − 1)/n for one item
    train = _log([0], [3], [1], 2, 4)  # user 0 clicked item 3 in training
    test = _log([0, 0, 1, 1], [0, 3, 2, 1], [1, 1, 1, 0], 2, 4)
    top = np.array([[1, 0], [2, 0]])  # user 0: item 0 at rank 2; user 1: item 2 at rank 1
    m = ranking_metrics(top, test, train, popularity=np.array([4.0, 3.0, 2.0, 1.0]))
    # User 0's only relevant item is 0 (item 3 was a training click): recall 1, NDCG 1/log2(3).
    assert abs(m["recall20"] - 1.0) < 1e-12
    assert abs(m["ndcg20"] - (1 / np.log2(3) + 1) / 2) < 1e-12
    assert abs(m["gini"] - gini(np.array([2, 1, 1, 0]))) < 1e-12


def test_every_recommender_failing_fails_the_run_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, with_plugins: Callable[..., str]
) -> None:
    # The run used to finish "ok" (exit 0, 8/8 claims) with no recommender fitted: the ranking
    # claims were left out instead of failed.
    monkeypatch.setenv("TOPICLAB_PLUGINS", with_plugins("support.recsys_plugins"))
    reset_registry()
    overrides = ['recommenders=["broken-fit"]', "world.seeds=1", "loss_check.seeds=2"]
    try:
        with pytest.raises(TopiclabError) as info:
            run_direct("causal-recsys", "quick", overrides=overrides, root=tmp_path)
    finally:
        monkeypatch.undo()
        reset_registry()
    text = str(info.value)
    assert text.startswith("every recommender failed") and "\n" not in text, text
    assert "broken-fit (RuntimeError: this recommender's fit is broken on purpose)" in text


def test_one_fitted_recommender_is_enough() -> None:
    broken = {"key": "broken-fit", "rep": 0, "error": "RuntimeError: no"}
    require_a_fit([broken, {"key": "popularity", "rep": 0, "seconds": 0.1}])
    with pytest.raises(TopiclabError, match=r"broken-fit \(RuntimeError: no\); pd \(x\)$"):
        require_a_fit([broken, broken | {"rep": 1, "error": "other"}, {"key": "pd", "error": "x"}])
