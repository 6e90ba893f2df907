"""The VAE and MDN trainers: shapes, seeds, likelihood fits with known answers.

.venv/bin/pytest tests/nn/test_vae_mdn.py -q
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from topiclab.nn.fitting import TrainingDiverged
from topiclab.nn.generative import GenerativeTrainer
from topiclab.nn.mdn import MDNConfig, MDNTrainer, fit_conditional
from topiclab.nn.vae import VAEConfig, VAETrainer

RNG = np.random.default_rng(0)
TWO = np.concatenate([RNG.normal(-3, 0.2, 1_500), RNG.normal(3, 0.2, 500)]).astype(np.float32)


def test_vae_trains_samples_and_is_reproducible(tmp_path):
    x = RNG.normal(size=(1_000, 2)).astype(np.float32)
    a, b = VAETrainer(VAEConfig(steps=40, hidden=16)), VAETrainer(VAEConfig(steps=40, hidden=16))
    assert isinstance(a, GenerativeTrainer)
    a.fit(x)
    b.fit(x)
    assert np.array_equal(a.sample(50, seed=0), b.sample(50, seed=0))
    assert a.sample(50, seed=0).shape == (50, 2)
    assert a.lipschitz(20, seed=0) > 0
    a.save(tmp_path / "vae.pt")
    c = VAETrainer(VAEConfig(steps=40, hidden=16))
    c.load(tmp_path / "vae.pt")
    assert np.array_equal(c.sample(5, seed=1), a.sample(5, seed=1))


def test_vae_nan_data_raises():
    with pytest.raises(TrainingDiverged):
        VAETrainer(VAEConfig(steps=5)).fit(np.full((50, 2), np.nan, np.float32))


def test_unconditional_mdn_recovers_mixture_weights_and_means():
    tr = MDNTrainer(MDNConfig(components=2, steps=400, lr=0.05))
    tr.fit(TWO[:, None])
    s = tr.sample(4_000, seed=0)[:, 0]
    assert np.mean(s > 0) == pytest.approx(0.25, abs=0.04)  # 500 of 2,000 on the right
    assert np.median(s[s > 0]) == pytest.approx(3, abs=0.15)
    assert np.median(s[s < 0]) == pytest.approx(-3, abs=0.15)


def test_conditional_mdn_gives_both_branches_of_plus_minus_x():
    x = RNG.uniform(0, 1, (2_000, 1)).astype(np.float32)
    y = np.where(RNG.random((2_000, 1)) < 0.5, x, -x).astype(np.float32)
    mdn = fit_conditional(x, y, MDNConfig(components=2, steps=600, lr=3e-3))
    with torch.no_grad():
        pi, mu, _ = mdn.params(torch.tensor([[0.8]]))
    assert sorted(mu[0, :, 0].tolist()) == pytest.approx([-0.8, 0.8], abs=0.1)
    assert pi[0].tolist() == pytest.approx([0.5, 0.5], abs=0.1)
