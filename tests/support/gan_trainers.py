"""GAN trainers for the mode-collapse tests, importable by name so that a worker process of
the train stage can unpickle them, and ``registered`` to add one to the registry for a while.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from topiclab.core.registry import get_registry
from topiclab.core.specs import TrainerSpec
from topiclab.nn.gan import GANConfig, GANTrainer


class NaNOnSecondSeed(GANTrainer):
    """A GAN whose second seed sees NaN data: its loss is NaN at step 0."""

    def fit(self, x, progress=None):
        if self.config.seed == 1:
            x = np.full_like(x, np.nan)
        super().fit(x, progress)


@contextmanager
def registered(key: str, cls: type[GANTrainer]) -> Iterator[None]:
    """``cls`` as the generative trainer ``key`` (GAN options) of this process's registry."""
    reg = get_registry()
    reg.trainers[key] = TrainerSpec(key, "generative", cls, GANConfig)
    try:
        yield
    finally:
        del reg.trainers[key]
