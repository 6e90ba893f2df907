"""A GAN trainer whose second seed sees NaN data (its loss is NaN at step 0), importable by
name so that a worker process of the mode-collapse train stage can unpickle it."""

from __future__ import annotations

import numpy as np

from topiclab.nn.gan import GANTrainer


class NaNOnSecondSeed(GANTrainer):
    def fit(self, x, progress=None):
        if self.config.seed == 1:
            x = np.full_like(x, np.nan)
        super().fit(x, progress)
