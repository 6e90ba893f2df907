"""The shared recommenders (``topiclab.nn.recommenders``) on a small world: PD recovers the
popularity exponent, the models beat a random ranking, state survives save/load, IPS weights
have mean one over the exposures; PDA's popularity prediction, each stage's popularity, and the
intervened test log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from topiclab.core.registry import get_registry
from topiclab.nn.recommenders import BPRMF, InteractionLog, IPSConfig, predict_popularity
from topiclab.plugins.causal_recsys import data as d
from topiclab.plugins.causal_recsys.config import WorldConfig
from topiclab.plugins.causal_recsys.evaluate import ranking_metrics
from topiclab.plugins.causal_recsys.train import top_k


@pytest.fixture(scope="module")
def world() -> tuple[d.World, InteractionLog, InteractionLog]:
    cfg = WorldConfig(n_users=600, n_items=300, train_exposures=60_000, test_per_user=50)
    rng = d.rng_for(0, "small")
    w = d.make_world(rng, cfg)
    return w, w.training_log(rng), w.uniform_log(rng)


def _ndcg(scores: np.ndarray, world: tuple[d.World, InteractionLog, InteractionLog]) -> float:
    w, train, test = world
    return ranking_metrics(top_k(scores, train), test, train, w.popularity)["ndcg20"]


def test_pd_recovers_the_popularity_exponent_and_ranks(world, tmp_path: Path) -> None:
    w, train, _ = world
    spec = get_registry().trainer("pda", task="recommender")
    pda = spec.create({"epochs": 10, "batch": 2048})
    pda.fit(train)
    assert abs(pda.gamma - w.gamma) < 0.15, pda.gamma  # 0.548 when written
    users = np.arange(train.n_users)
    random = np.random.default_rng(0).random((train.n_users, train.n_items))
    assert _ndcg(pda.score(users), world) > 1.5 * _ndcg(random, world)
    pda.save(tmp_path / "pda.pt")
    again = spec.create({})
    again.load(tmp_path / "pda.pt")
    assert np.allclose(again.score(users), pda.score(users))
    assert again.gamma == pda.gamma


def test_bpr_beats_random_and_ips_weights_average_one(world) -> None:
    _, train, _ = world
    mf = get_registry().trainer("bpr-mf", task="recommender").create({"epochs": 10, "batch": 1024})
    mf.fit(train)
    users = np.arange(train.n_users)
    random = np.random.default_rng(0).random((train.n_users, train.n_items))
    assert _ndcg(mf.score(users), world) > 1.5 * _ndcg(random, world)
    # Over all exposures of all stages (every row a "click"), w = |log| / (T·|U×I|·p) ≈ 1.
    every = InteractionLog(
        train.users,
        train.items,
        np.ones_like(train.clicks),
        train.propensity,
        train.n_users,
        train.n_items,
        train.stage,
    )
    weights = BPRMF(IPSConfig())._weights(every)
    assert abs(weights.mean() - 1) < 0.05


def test_pda_predicts_the_next_stage_linearly_and_keeps_popularity_positive() -> None:
    by_stage = np.array([[0.2, 1.0, 0.5], [0.4, 1.0, 0.3]])
    # m(T) + α(m(T) − m(T−1)): 0.4 + 0.2, 1.0, 0.3 − 0.2 = 0.1 (raised to the least, 0.3).
    assert np.allclose(predict_popularity(by_stage, 1.0), [0.6, 1.0, 0.3])
    assert np.allclose(predict_popularity(by_stage, 0.0), by_stage[-1])
    assert np.allclose(predict_popularity(by_stage[:1], 1.0), by_stage[0])  # one stage


def test_stage_popularity_is_each_stages_logged_policy(world) -> None:
    w, train, _ = world
    m = train.stage_popularity()
    assert m.shape == (w.stages, w.n_items) and w.stages > 1
    # The policy is logged: m_i(t) is p_i(t) over the stage's largest, for every item shown.
    expected = w.stage_exposure[: w.stages] / w.stage_exposure[: w.stages].max(1, keepdims=True)
    shown = np.zeros_like(m, dtype=bool)
    shown[train.stage, train.items] = True
    assert np.allclose(m[shown], expected[shown]) and shown.mean() > 0.99
    assert np.all(m[~shown] <= m.min(1, keepdims=True).repeat(w.n_items, 1)[~shown] + 1e-12)
    assert not np.allclose(m[0], m[-1])  # popularity drifts


def test_the_intervened_log_cuts_popularity_from_the_item(world) -> None:
    w, _, uniform = world
    intervened = w.intervened_log(d.rng_for(0, "intervened"))
    assert np.array_equal(np.bincount(intervened.users), np.bincount(uniform.users))
    corr = {}
    for name, log in (("uniform", uniform), ("intervened", intervened)):
        shown = np.bincount(log.items, minlength=w.n_items)
        rate = np.bincount(log.items, weights=log.clicks, minlength=w.n_items) / shown
        corr[name] = np.corrcoef(rate, w.popularity**w.gamma)[0, 1]
    # Item i's click rate follows z_i^γ when shown at random, not once Z is drawn apart.
    assert corr["uniform"] > 0.5 and abs(corr["intervened"]) < 0.15, corr
    expected = w.preference(intervened.users, intervened.items) * np.mean(w.popularity**w.gamma)
    assert abs(intervened.clicks.mean() - expected.mean()) < 4 * np.sqrt(expected.mean() / 30_000)
