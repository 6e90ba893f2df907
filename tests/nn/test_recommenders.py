"""Every registered recommender writes its state to exactly the path it is given and reads it
back from there (``rec.save(path); rec.load(path)``, the module docstring's contract)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from topiclab.core.registry import get_registry
from topiclab.nn.recommenders import RECOMMENDER_TASK, InteractionLog


def _log() -> InteractionLog:
    rng = np.random.default_rng(0)
    n = 400
    return InteractionLog(
        users=rng.integers(0, 20, n),
        items=rng.integers(0, 15, n),
        clicks=(rng.random(n) < 0.3).astype(np.float32),
        propensity=rng.uniform(0.1, 0.9, n),
        n_users=20,
        n_items=15,
    )


@pytest.mark.parametrize("key", ["popularity", "bpr-mf", "bpr-ips", "bpr-snips", "pd", "pda"])
def test_save_then_load_at_the_same_path_gives_the_same_scores(key: str, tmp_path: Path) -> None:
    spec = get_registry().trainer(key, task=RECOMMENDER_TASK)
    options = {} if key == "popularity" else {"epochs": 1, "dim": 4, "batch": 64}
    rec = spec.create(options)
    rec.fit(_log())
    path = tmp_path / "model.pt"
    rec.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no file beside it
    again = spec.create(options)
    again.load(path)
    users = np.arange(20)
    assert np.array_equal(again.score(users), rec.score(users))


def test_popularity_refuses_to_save_before_fit(tmp_path: Path) -> None:
    rec = get_registry().trainer("popularity", task=RECOMMENDER_TASK).create({})
    with pytest.raises(RuntimeError, match="fit"):
        rec.save(tmp_path / "model.npy")
