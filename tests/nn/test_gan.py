"""The GAN trainer (vanilla, PacGAN, unrolled): shapes, seeds, divergence, checkpoints,
Lipschitz constant, save/load.

.venv/bin/pytest tests/nn/test_gan.py -q
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from topiclab.nn.gan import (
    ACTIVATIONS,
    GANConfig,
    GANTrainer,
    TrainingDiverged,
    jacobian_norms,
    mlp,
    unrolled,
)
from topiclab.nn.generative import GenerativeTrainer

X = np.random.default_rng(0).normal(size=(2_000, 2)).astype(np.float32) * [1.0, 3.0] + 5.0


def small(**kw) -> GANTrainer:
    return GANTrainer(GANConfig(**{"steps": 30, "batch": 32, "hidden": 16} | kw))


@pytest.mark.parametrize("kw", [{}, {"pack": 3}, {"unroll": 2}])
def test_trains_samples_and_is_reproducible(kw):
    a, b = small(**kw), small(**kw)
    assert isinstance(a, GenerativeTrainer)
    a.fit(X)
    b.fit(X)
    s = a.sample(100, seed=1)
    assert s.shape == (100, 2) and np.isfinite(s).all()
    assert np.array_equal(s, b.sample(100, seed=1))
    assert not np.array_equal(s, a.sample(100, seed=2))
    assert a.history and {"loss", "loss_avg", "d_loss"} <= set(a.history[0])


def test_pacgan_discriminator_sees_m_samples():
    tr = small(pack=4)
    tr.fit(X)
    assert tr.D is not None and tr.D[0].in_features == 8  # 4 samples × 2 dims


def test_unrolled_generator_gradient_differs_from_the_plain_one():
    """k = 0 and k = 2 from the same start: the look-ahead changes G's update."""
    a, b = (
        GANTrainer(GANConfig(steps=1, hidden=8)),
        GANTrainer(GANConfig(steps=1, hidden=8, unroll=2)),
    )
    a.fit(X)
    b.fit(X)
    assert a.G is not None and b.G is not None
    wa, wb = a.G[0].weight, b.G[0].weight
    assert not torch.allclose(wa, wb)


def _d_with_adam(t0: int, dtype: torch.dtype = torch.float32):
    """A small D (tanh: smooth for finite differences) whose Adam has taken ``t0`` steps."""
    torch.manual_seed(0)
    D = mlp(2, 1, 8, 2, ACTIVATIONS["tanh"]).to(dtype)
    opt = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
    for _ in range(t0):
        opt.zero_grad()
        x = torch.randn(16, 2, dtype=dtype)
        GANTrainer.d_loss(D(x), D(x + 1)).backward()
        opt.step()
    return D, opt


def _lookahead_loss(D, fake):
    return lambda p, r: GANTrainer.d_loss(functional_call(D, p, r), functional_call(D, p, fake))


@pytest.mark.parametrize("t0", [0, 3])
def test_unrolled_is_k_steps_of_ds_adam(t0):
    """The look-ahead's values are D's own Adam (moments, bias correction from its step count)
    taking k steps, one real minibatch each: Metz et al.'s notebook unrolls D's optimizer."""
    D, opt = _d_with_adam(t0)
    real, fake = torch.randn(3, 16, 2), torch.randn(16, 2) + 1
    c = GANConfig(unroll=3, lr=1e-2, beta1=0.5)
    ahead = unrolled(dict(D.named_parameters()), opt, _lookahead_loss(D, fake), real, c)
    ref = copy.deepcopy(D)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2, betas=(0.5, 0.999))
    ref_opt.load_state_dict(copy.deepcopy(opt.state_dict()))  # shares no moment tensor
    for r in real:
        ref_opt.zero_grad()
        GANTrainer.d_loss(ref(r), ref(fake)).backward()
        ref_opt.step()
    for name, p in ref.named_parameters():
        assert torch.allclose(ahead[name], p, atol=1e-6), name
    assert all(s["step"] == t0 for s in opt.state.values())  # D's own optimizer untouched


def test_unrolled_gradient_in_the_fakes_matches_finite_differences():
    """G's loss at the look-ahead D, differentiated through D's k Adam steps: autograd equals
    central differences in the fakes (float64), so the through-D part is the true one."""
    D, opt = _d_with_adam(5, torch.float64)
    real = torch.randn(3, 16, 2, dtype=torch.float64)
    c = GANConfig(unroll=3, lr=1e-2, beta1=0.5)

    def g_loss(fake):
        ahead = unrolled(dict(D.named_parameters()), opt, _lookahead_loss(D, fake), real, c)
        return F.softplus(-functional_call(D, ahead, fake)).mean()

    fake = torch.randn(4, 2, dtype=torch.float64) + 1
    grad = torch.autograd.grad(g_loss(fake.requires_grad_()), fake)[0]
    fd = torch.zeros_like(grad)
    for i, j in np.ndindex(*fake.shape):
        e = torch.zeros_like(fake)
        e[i, j] = 1e-6
        fd[i, j] = (g_loss(fake.detach() + e) - g_loss(fake.detach() - e)).item() / 2e-6
    assert torch.allclose(grad, fd, rtol=1e-5, atol=1e-9)


def test_nan_loss_raises_training_diverged():
    bad = X.copy()
    bad[:] = np.nan
    with pytest.raises(TrainingDiverged, match="step 0"):
        small().fit(bad)
    assert issubclass(TrainingDiverged, FloatingPointError)  # what callers catch


def test_checkpoints_and_their_samples():
    tr = small(checkpoint_every=10)
    tr.fit(X)
    frames = tr.checkpoint_samples(50, seed=0)
    assert sorted(frames) == [10, 20, 30]
    assert np.array_equal(frames[30], tr.sample(50, seed=0))  # the last one is the final G


def test_lipschitz_of_a_linear_map_is_its_spectral_norm():
    A = torch.tensor([[3.0, 1.0], [0.0, 2.0]])
    z = torch.randn(20, 2)
    scale = torch.tensor([2.0, 1.0])
    norms = jacobian_norms(lambda v: v @ A.T, z, scale)
    expected = torch.linalg.matrix_norm(torch.diag(scale) @ A, ord=2)
    assert torch.allclose(norms, expected.expand(20))


def test_save_and_load_give_the_same_samples(tmp_path):
    tr = small(checkpoint_every=15)
    tr.fit(X)
    tr.save(tmp_path / "gan.pt")
    other = small(checkpoint_every=15)
    other.load(tmp_path / "gan.pt")
    assert np.array_equal(other.sample(20, seed=3), tr.sample(20, seed=3))
    assert sorted(other.checkpoints) == [15, 30]


METZ = {"z_dim": 8, "d_layers": 1, "d_act": "relu", "init": "orthogonal", "init_gain": 0.8}


def test_metz_networks_and_init():
    """Metz et al. 2017's shapes: D one ReLU layer; orthogonal weights × 0.8, zero biases."""
    tr = small(**METZ)
    tr._prepare(X)
    assert tr.G is not None and tr.D is not None
    d_linear = [m for m in tr.D if isinstance(m, torch.nn.Linear)]
    assert len(d_linear) == 2 and isinstance(tr.D[1], torch.nn.ReLU)
    w = tr.G[0].weight  # (16, 8): orthonormal columns × gain
    assert torch.allclose(w.T @ w, 0.64 * torch.eye(8), atol=1e-5)
    assert all(torch.all(m.bias == 0) for m in tr.G if isinstance(m, torch.nn.Linear))


def test_pacgans_normal_init():
    """PacGAN's init: every weight N(0, 0.02²) (G and D), biases zero; G starts as a point."""
    tr = small(init="normal", hidden=128)
    tr._prepare(X)
    assert tr.G is not None and tr.D is not None
    for net in (tr.G, tr.D):
        linear = [m for m in net if isinstance(m, torch.nn.Linear)]
        assert all(torch.all(m.bias == 0) for m in linear)
        w = linear[1].weight  # 128 × 128 draws
        assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001
    spread = tr.G(torch.randn(500, tr.config.z_dim)).std(0)
    assert torch.all(spread < 1e-3)  # in standardized units: all of G's mass at one point


def test_lr_d_is_ds_learning_rate_alone():
    """lr_d ≈ 0 freezes D while G (at lr) moves: the two optimizers have their own rates."""
    tr, init = small(steps=3, lr_d=1e-12), small()
    tr.fit(X)
    init._prepare(X)
    assert tr.D is not None and init.D is not None and tr.G is not None and init.G is not None
    assert torch.allclose(tr.D[0].weight, init.D[0].weight, atol=1e-8)
    assert not torch.allclose(tr.G[0].weight, init.G[0].weight, atol=1e-4)


def test_d_input_scale_scales_what_d_sees():
    tr = small(d_input_scale=0.25)
    x = torch.ones(6, 2)
    tr._prepare(X)
    assert torch.equal(tr._packed(x), torch.full((6, 2), 0.25))


# Metz et al.'s notebook (poolio/unrolled_gan): tanh nets, G minimizing −L_D, both nets stepped
# from the same weights (one sess.run).
NOTEBOOK = {"g_act": "tanh", "d_act": "tanh", "g_loss": "minimax", "updates": "simultaneous"}


def test_notebook_networks_are_tanh():
    tr = small(**NOTEBOOK)
    tr._prepare(X)
    assert tr.G is not None and tr.D is not None
    assert isinstance(tr.G[1], torch.nn.Tanh) and isinstance(tr.D[3], torch.nn.Tanh)
    plain = small()
    plain._prepare(X)
    assert plain.G is not None and isinstance(plain.G[1], torch.nn.ReLU)


@pytest.mark.parametrize("updates", ["simultaneous", "alternating"])
def test_minimax_generator_loss_is_minus_ds_loss(updates):
    """G's minimax loss is −L_D; simultaneous updates evaluate it at D before D's step (same
    batch), so at step 0 it is exactly −(D's loss); alternating ones at D after its step."""
    tr = small(steps=1, g_loss="minimax", updates=updates, lr=1e-2)
    tr.fit(X)
    row = tr.history[0]
    assert (row["loss"] == pytest.approx(-row["d_loss"], abs=1e-6)) == (updates == "simultaneous")


def test_minimax_and_non_saturating_move_g_differently():
    a, b = small(steps=1), small(steps=1, g_loss="minimax")
    a.fit(X)
    b.fit(X)
    assert a.G is not None and b.G is not None
    assert not torch.allclose(a.G[0].weight, b.G[0].weight)


@pytest.mark.parametrize("updates", ["simultaneous", "alternating"])
def test_simultaneous_g_step_ignores_ds_step(updates):
    """Simultaneous: G's first step is taken against D's initial weights, whatever D's lr;
    alternating: against D after its step, so D's lr changes G's step."""
    a, b = small(steps=1, updates=updates, lr_d=1e-1), small(steps=1, updates=updates, lr_d=1e-6)
    a.fit(X)
    b.fit(X)
    assert a.G is not None and b.G is not None
    same = torch.equal(a.G[0].weight, b.G[0].weight)
    assert same == (updates == "simultaneous")


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"pack": 2},
        {"unroll": 2},
        METZ | {"lr_d": 3e-4, "d_input_scale": 0.5},
        {"init": "normal", "d_layers": 3, "pack": 2},
        NOTEBOOK | {"init": "orthogonal", "init_gain": 1.4, "lr_d": 1e-4},
        NOTEBOOK | {"unroll": 2, "g_loss": "non-saturating"},
        NOTEBOOK | {"unroll": 2, "pack": 2},
    ],
)
def test_fit_together_equals_fit_per_seed(kw):
    """Seeds batched into one model keep their own init, minibatches and z: same G as fit
    (the unrolled GAN's look-ahead too)."""
    kw = kw | {"checkpoint_every": 10}
    alone = [small(seed=s, **kw) for s in range(3)]
    for t in alone:
        t.fit(X)
    together = [small(seed=s, **kw) for s in range(3)]
    assert GANTrainer.fit_together(together, X) == [None, None, None]
    for a, b in zip(alone, together, strict=True):
        assert np.allclose(a.sample(100, seed=1), b.sample(100, seed=1), atol=1e-4)
        assert sorted(b.checkpoints) == [10, 20, 30] and len(b.history) == len(a.history)
        assert b.history[-1]["loss"] == pytest.approx(a.history[-1]["loss"], abs=1e-4)
    assert not np.allclose(together[0].sample(100, seed=1), together[1].sample(100, seed=1))


def test_fit_together_reports_each_seeds_divergence():
    bad = np.full_like(X, np.nan)
    errors = GANTrainer.fit_together([small(seed=s) for s in range(2)], bad)
    assert all(isinstance(e, TrainingDiverged) and "step 0" in str(e) for e in errors)
    with pytest.raises(ValueError, match="differ only in seed"):
        GANTrainer.fit_together([small(seed=0), small(seed=1, pack=2)], X)
