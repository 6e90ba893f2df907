"""The shared recommenders (``topiclab.nn.recommenders``) on a small world: PD recovers the
popularity exponent, the models beat a random ranking, state survives save/load, IPS weights
have mean one over the exposures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from topiclab.core.registry import get_registry
from topiclab.nn.recommenders import BPRMF, InteractionLog, IPSConfig
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
