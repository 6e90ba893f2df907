"""A generative trainer for the ``generative`` task: a Gaussian mixture fitted by EM."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from sklearn.mixture import GaussianMixture


class GMMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_components: int = 8
    max_iter: int = 200
    seed: int = 0


class GMMTrainer:
    """``fit(x, progress)`` then ``sample(n, seed)``: the generative-trainer interface."""

    def __init__(self, config: GMMConfig | None = None) -> None:
        self.config = config or GMMConfig()
        self.model: GaussianMixture | None = None

    def fit(self, x: np.ndarray, progress: Callable[..., None] | None = None) -> None:
        c = self.config
        self.model = GaussianMixture(c.n_components, max_iter=c.max_iter, random_state=c.seed)
        self.model.fit(np.asarray(x).reshape(len(x), -1))
        if progress is not None:
            progress(0, log_likelihood=float(self.model.score(x.reshape(len(x), -1))))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("call fit() before sample()")
        self.model.random_state = seed
        return np.asarray(self.model.sample(n)[0], dtype=np.float32)

    def save(self, path: Path) -> None:
        import pickle

        Path(path).write_bytes(pickle.dumps(self.model))
