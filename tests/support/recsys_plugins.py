"""Two third-party recommenders (task ``recommender``) for the causal-recsys tests, loaded with
``TOPICLAB_PLUGINS=support.recsys_plugins``:

- ``cooccurrence``: a small working one (items clicked together with the user's clicks);
- ``broken-fit``: its ``fit`` raises, and the topic must report the others anyway.
"""

from __future__ import annotations

import numpy as np

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec


class Cooccurrence:
    """Score = how often an item is clicked by users who clicked what this user clicked."""

    def __init__(self, config: dict) -> None:
        self.config = config

    def fit(self, log, progress=None) -> None:
        users, items = log.positives()
        clicks = np.zeros((log.n_users, log.n_items))
        clicks[users, items] = 1.0
        self.scores = clicks @ (clicks.T @ clicks)  # user × item co-occurrence counts

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.scores[users]


class BrokenFit:
    def __init__(self, config: dict) -> None:
        pass

    def fit(self, log, progress=None) -> None:
        raise RuntimeError("this recommender's fit is broken on purpose")

    def score(self, users: np.ndarray) -> np.ndarray:  # pragma: no cover - never reached
        return np.zeros((len(users), 1))


@hookimpl
def topiclab_register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec("cooccurrence", "recommender", Cooccurrence, None, "item co-occurrence"),
        TrainerSpec("broken-fit", "recommender", BrokenFit, None, "fit raises (a test fixture)"),
    ]
