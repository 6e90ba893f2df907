"""GANTrainer: the non-saturating GAN, PacGAN (packing m) and the unrolled GAN (k steps).

    from topiclab.nn.gan import GANConfig, GANTrainer
    tr = GANTrainer(GANConfig(steps=3000))                  # vanilla, non-saturating loss
    tr = GANTrainer(GANConfig(pack=4))                      # PacGAN4 (Lin et al. 2018)
    tr = GANTrainer(GANConfig(unroll=5))                    # unrolled GAN (Metz et al. 2017)
    tr = GANTrainer(GANConfig(z_dim=256, d_layers=1, d_act="relu", init="orthogonal",
                              init_gain=0.8, lr=1e-4, batch=512))   # Metz et al.'s 2-D nets
    tr = GANTrainer(GANConfig(z_dim=256, g_act="tanh", d_act="tanh", init="orthogonal",
                              init_gain=1.4, lr=1e-3, lr_d=1e-4, batch=512, standardize=False,
                              updates="simultaneous", g_loss="minimax"))  # their notebook
    tr.fit(x_train, progress=lambda step, **m: print(step, m))    # x: (n, d) float32
    x = tr.sample(2500, seed=0)
    frames = tr.checkpoint_samples(2500, seed=0)            # {step: samples} for mode cycling
    lip = tr.lipschitz(2500, seed=0)                        # max ‖∂G/∂z‖₂ over z ~ N(0, I)

Follows topiclab.nn.generative's interface. A loss that becomes NaN or infinite raises
``TrainingDiverged`` (a FloatingPointError) at that step, so a caller can fail one seed.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from torch.func import functional_call, jacfwd, jacrev, stack_module_state, vmap

from topiclab.core.topic import MAX_SEED
from topiclab.nn.fitting import TrainingDiverged, history_row
from topiclab.nn.generative import ProgressFn

MAX_STEPS = 10_000_000


class GANConfig(BaseModel):
    """One GAN run. Defaults: small MLPs that train on 2-D mixtures in seconds on a CPU."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    steps: int = Field(default=3000, ge=1, le=MAX_STEPS, description="generator updates")
    batch: int = Field(default=128, ge=2, le=65_536, description="D inputs per step")
    lr: float = Field(default=1e-3, gt=0, le=1, description="G's Adam lr (and D's unless lr_d)")
    lr_d: float | None = Field(default=None, gt=0, le=1, description="D's Adam lr (None: lr)")
    beta1: float = Field(default=0.5, ge=0, lt=1, description="Adam β1 (PacGAN: 0.8)")
    lr_min_frac: float = Field(
        default=1.0, gt=0, le=1, description="cosine decay of both lrs to this fraction (1: off)"
    )
    hidden: int = Field(default=128, ge=1, le=8_192)
    layers: int = Field(default=2, ge=1, le=32, description="hidden layers of G and of D")
    d_layers: int | None = Field(default=None, ge=1, le=32, description="D's (None: layers)")
    g_act: Literal["relu", "tanh"] = Field(default="relu", description="G's hidden units")
    d_act: Literal["leaky", "relu", "tanh"] = Field(
        default="leaky", description="D's hidden units (leaky: LeakyReLU(0.2))"
    )
    g_loss: Literal["non-saturating", "minimax"] = Field(
        default="non-saturating",
        description="G minimizes −log D(G(z)), or −L_D (minimax: Metz et al.'s notebook)",
    )
    updates: Literal["alternating", "simultaneous"] = Field(
        default="alternating",
        description="G steps against D after (alternating) or before (simultaneous) D's step",
    )
    init: Literal["torch", "orthogonal", "normal"] = Field(
        default="torch",
        description="weights: PyTorch's default, orthogonal × init_gain, or N(0, init_std²)",
    )
    init_gain: float = Field(default=1.0, gt=0, le=100, description="orthogonal init's gain")
    init_std: float = Field(default=0.02, gt=0, le=100, description="normal init's std (PacGAN)")
    d_input_scale: float = Field(
        default=1.0, gt=0, le=1e6, description="D sees scale·x (Metz et al.: 1/4 for radius 2)"
    )
    z_dim: int = Field(default=2, ge=1, le=4_096)
    pack: int = Field(default=1, ge=1, le=16, description="PacGAN's m: samples per D input")
    unroll: int = Field(default=0, ge=0, le=50, description="unrolled GAN's k (0: off)")
    checkpoint_every: int = Field(default=0, ge=0, le=MAX_STEPS, description="0: none")
    standardize: bool = Field(default=True, description="train on (x − mean)/std per dim")
    log_every: int = Field(default=50, ge=1, le=MAX_STEPS)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)

    @property
    def d_lr(self) -> float:
        """D's learning rate: ``lr_d`` if set, else G's ``lr``."""
        return self.lr if self.lr_d is None else self.lr_d


class PacGANConfig(GANConfig):
    """PacGAN's defaults: m = 4 (the best ring and grid row of Lin et al. 2018, Table 1)."""

    pack: int = Field(default=4, ge=2, le=16, description="PacGAN's m: samples per D input")


class UnrolledGANConfig(GANConfig):
    """Unrolled GAN's defaults: k = 5 (Metz et al. 2017; VEEGAN's Table 1 row)."""

    unroll: int = Field(default=5, ge=1, le=50, description="D steps G looks ahead (k)")


def mlp(
    d_in: int, d_out: int, hidden: int, layers: int, act: Callable[[], nn.Module]
) -> nn.Sequential:
    """``layers`` hidden layers of ``hidden`` units with activation ``act``."""
    dims = [d_in] + [hidden] * layers
    mods: list[nn.Module] = []
    for a, b in itertools.pairwise(dims):
        mods += [nn.Linear(a, b), act()]
    return nn.Sequential(*mods, nn.Linear(dims[-1], d_out))


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky": _leaky,
    "tanh": nn.Tanh,
}


def _orthogonal(net: nn.Module, gain: float) -> None:
    """Orthogonal weights × ``gain`` and zero biases (Metz et al. 2017, App. A: gain 0.8)."""
    for layer in net.modules():
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=gain)
            nn.init.zeros_(layer.bias)


def _normal(net: nn.Module, std: float) -> None:
    """N(0, std²) weights and zero biases (PacGAN's code: std 0.02)."""
    for layer in net.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=std)
            nn.init.zeros_(layer.bias)


def jacobian_norms(fn: Any, z: Tensor, scale: Tensor) -> Tensor:
    """Spectral norm of ∂(scale·fn)/∂z at each row of ``z`` (Salmona et al. 2022's quantity)."""
    # Forward mode costs d_z passes, reverse mode d_out: pick the smaller (192-D images).
    d_out = fn(z[:1]).shape[1]
    jac_fn = jacfwd if z.shape[1] < d_out else jacrev
    jac = vmap(jac_fn(lambda v: fn(v[None])[0] * scale))(z).detach()  # (n, d_out, d_z)
    # σ_max² is the top eigenvalue of the smaller Gram matrix: for 192-D images and a 16-D z,
    # a 16×16 eigvalsh per row instead of a 192×16 SVD (several times faster).
    gram = jac.mT @ jac if jac.shape[1] >= jac.shape[2] else jac @ jac.mT
    return torch.linalg.eigvalsh(gram)[..., -1].clamp_min(0).sqrt()


def unrolled(
    named: dict[str, Tensor],
    opt: torch.optim.Adam,
    loss: Callable[[dict[str, Tensor], Tensor], Tensor],
    real: Tensor,
    c: GANConfig,
) -> dict[str, Tensor]:
    """``named`` (D's parameters, stepped by ``opt``) after ``c.unroll`` Adam steps on
    ``loss(params, real[i])``, kept differentiable in what ``loss`` closes over (G's fakes).
    Adam acts elementwise, so stacked parameters of several seeds (``fit_together``) unroll
    each seed on its own loss when ``loss`` is the sum of the seeds' losses."""
    names = list(named)
    # Copies: opt.step() later updates D's tensors and Adam's moments in place.
    params = {n: p.detach().clone().requires_grad_() for n, p in named.items()}
    state = [opt.state.get(p, {}) for p in named.values()]
    m = [
        s.get("exp_avg", torch.zeros_like(p)).clone()
        for s, p in zip(state, named.values(), strict=True)
    ]
    v = [
        s.get("exp_avg_sq", torch.zeros_like(p)).clone()
        for s, p in zip(state, named.values(), strict=True)
    ]
    t0 = int(state[0].get("step", 0)) if state[0] else 0
    # Adam at D's base lr (the cosine factor is left out of the look-ahead).
    b1, b2 = c.beta1, 0.999
    for i in range(c.unroll):
        grads = torch.autograd.grad(loss(params, real[i]), list(params.values()), create_graph=True)
        t = t0 + i + 1
        m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads, strict=True)]
        v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads, strict=True)]
        # + 1e-16 under the root: √ has an infinite slope at 0 (v = 0 before Adam's first step).
        params = {
            n: p - c.d_lr * (mi / (1 - b1**t)) / ((vi / (1 - b2**t) + 1e-16).sqrt() + 1e-8)
            for n, p, mi, vi in zip(names, params.values(), m, v, strict=True)
        }
    return params


class GANTrainer:
    """Trains G: z → x against D: x^m → logit with the non-saturating loss (Goodfellow 2014),
    or the minimax one (``g_loss``)."""

    def __init__(self, config: GANConfig | None = None) -> None:
        self.config = config or GANConfig()
        self.G: nn.Module | None = None
        self.D: nn.Module | None = None
        self.dim = 0
        self.mean = torch.zeros(1)
        self.std = torch.ones(1)
        self.history: list[dict[str, float]] = []
        self.checkpoints: dict[int, dict[str, Tensor]] = {}

    def _build(self, dim: int) -> None:
        c = self.config
        torch.manual_seed(c.seed)
        self.dim = dim
        self.G = mlp(c.z_dim, dim, c.hidden, c.layers, ACTIVATIONS[c.g_act])
        self.D = mlp(dim * c.pack, 1, c.hidden, c.d_layers or c.layers, ACTIVATIONS[c.d_act])
        if c.init == "orthogonal":
            _orthogonal(self.G, c.init_gain)
            _orthogonal(self.D, c.init_gain)
        elif c.init == "normal":
            _normal(self.G, c.init_std)
            _normal(self.D, c.init_std)

    # --- losses -----------------------------------------------------------------------

    def _packed(self, x: Tensor) -> Tensor:
        """(batch·m, d) → (batch, m·d): PacGAN's D judges m samples jointly."""
        return x.reshape(-1, self.config.pack * self.dim) * self.config.d_input_scale

    @staticmethod
    def d_loss(real_logit: Tensor, fake_logit: Tensor) -> Tensor:
        """−E log D(x) − E log(1 − D(G(z))), with D = sigmoid(logit)."""
        return F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()

    @staticmethod
    def g_loss(fake_logit: Tensor) -> Tensor:
        """Non-saturating: −E log D(G(z)) (strong gradients when D rejects the fakes)."""
        return F.softplus(-fake_logit).mean()

    def _g_loss(self, D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        """G's loss against the discriminator ``D``: non-saturating, or minimax (−L_D, whose
        real term moves G only through an unrolled D's parameters)."""
        fake_logit = D(self._packed(fake))
        if self.config.g_loss == "minimax":
            return -self.d_loss(D(self._packed(real)), fake_logit)
        return self.g_loss(fake_logit)

    def _unrolled_d(
        self, opt: torch.optim.Adam, real: Tensor, fake: Tensor
    ) -> Callable[[Tensor], Tensor]:
        """D with its parameters after k Adam steps that stay differentiable in ``fake`` (Metz
        et al. 2017, eq. 4–6): G's loss against it sees how D would answer a move of G."""
        assert self.D is not None
        D = self.D

        def loss(params: dict[str, Tensor], real_i: Tensor) -> Tensor:
            return self.d_loss(
                functional_call(D, params, self._packed(real_i)),
                functional_call(D, params, self._packed(fake)),
            )

        params = unrolled(dict(self.D.named_parameters()), opt, loss, real, self.config)
        return partial(functional_call, D, params)

    # --- training ---------------------------------------------------------------------

    def _prepare(self, x: np.ndarray) -> Tensor:
        """The training rows (standardized if configured); builds G and D for their width."""
        data = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(len(x), -1)
        if self.config.standardize:
            self.mean, self.std = data.mean(0), data.std(0).clamp_min(1e-8)
        data = (data - self.mean) / self.std
        self._build(data.shape[1])
        return data

    def fit(self, x: np.ndarray, progress: ProgressFn | None = None) -> None:
        c = self.config
        data = self._prepare(x)
        assert self.G is not None and self.D is not None
        opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, 0.999))
        opt_d = torch.optim.Adam(self.D.parameters(), lr=c.d_lr, betas=(c.beta1, 0.999))
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, self._lr_factor) for o in (opt_g, opt_d)]
        g = torch.Generator().manual_seed(c.seed)
        n_real = c.batch * c.pack
        for step in range(c.steps):
            k = max(c.unroll, 1)
            idx = torch.randint(0, len(data), (k, n_real), generator=g)
            real = data[idx]  # (k, batch·m, d): one minibatch per unrolled D step
            z = torch.randn(n_real, c.z_dim, generator=g)
            fake = self.G(z)
            d_loss = self.d_loss(self.D(self._packed(real[0])), self.D(self._packed(fake.detach())))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            # Unrolled from D *before* this step's update, as in Metz et al.'s code.
            d_for_g = self._unrolled_d(opt_d, real, fake) if c.unroll else self.D
            if c.updates == "alternating":
                opt_d.step()
            g_loss = self._g_loss(d_for_g, real[0], fake)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward(inputs=list(self.G.parameters()))
            if c.updates == "simultaneous":
                opt_d.step()  # after G's gradient: D's step changes its weights in place
            opt_g.step()
            for s in scheds:
                s.step()
            self._check(step, d_loss, g_loss)
            self._record(step, d_loss, g_loss, progress)

    @classmethod
    def fit_together(
        cls,
        trainers: list[GANTrainer],
        x: np.ndarray,
        progress: list[ProgressFn | None] | None = None,
    ) -> list[TrainingDiverged | None]:
        """Fit trainers whose configs differ only in ``seed`` as one vectorized model (their
        weights stacked, one batched matmul per layer). Each seed keeps the initial weights,
        minibatches and z draws that ``fit`` gives it, and Adam acts elementwise, so the runs
        stay independent (equal to ``fit`` up to float rounding); the small 2-D nets cost little
        more for five seeds than for one. Returns, per trainer, the divergence that failed it or
        None. The unrolled GAN's look-ahead is batched too (``unrolled`` on the stacked D)."""
        progress = progress or [None] * len(trainers)
        c = trainers[0].config
        if any(t.config.model_copy(update={"seed": c.seed}) != c for t in trainers):
            raise ValueError("fit_together needs trainers whose configs differ only in seed")
        # A subclass that changes ``fit`` is fitted its own way, one trainer at a time.
        own_fit = any(type(t).fit is not GANTrainer.fit for t in trainers)
        if len(trainers) == 1 or own_fit:
            return [_fit_or_fail(t, x, p) for t, p in zip(trainers, progress, strict=True)]
        data = [t._prepare(x) for t in trainers]  # each builds its G and D from its seed
        return _VectorizedGAN(trainers).fit(data[0], progress)

    def _lr_factor(self, step: int) -> float:
        c = self.config
        return c.lr_min_frac + (1 - c.lr_min_frac) * 0.5 * (1 + math.cos(math.pi * step / c.steps))

    def _check(self, step: int, d_loss: Tensor, g_loss: Tensor) -> None:
        if not (torch.isfinite(d_loss) and torch.isfinite(g_loss)):
            raise TrainingDiverged(
                f"GAN loss not finite at step {step}: D {d_loss.item()}, G {g_loss.item()}"
            )

    def _record(
        self,
        step: int,
        d_loss: Tensor,
        g_loss: Tensor,
        progress: ProgressFn | None,
        g_state: Callable[[], dict[str, Tensor]] | None = None,
    ) -> None:
        """A checkpoint of G's weights (``g_state()``, else G's own) and a history row when due."""
        c = self.config
        last = step == c.steps - 1
        if c.checkpoint_every and ((step + 1) % c.checkpoint_every == 0 or last):
            assert self.G is not None
            self.checkpoints[step + 1] = (
                g_state() if g_state else copy.deepcopy(self.G.state_dict())
            )
        if step % c.log_every == 0 or last:
            # ``loss`` is G's: the objective of the model that is sampled.
            row = history_row(self.history, step, g_loss.item(), d_loss=d_loss.item())
            self.history.append(row)
            if progress is not None:
                progress(step, d_loss=row["d_loss"], g_loss=row["loss"])

    # --- sampling ---------------------------------------------------------------------

    @torch.no_grad()
    def _generate(self, G: nn.Module, n: int, seed: int) -> np.ndarray:
        z = torch.randn(n, self.config.z_dim, generator=torch.Generator().manual_seed(seed))
        return (G(z) * self.std + self.mean).numpy()

    def sample(self, n: int, seed: int) -> np.ndarray:
        assert self.G is not None, "fit or load the trainer before sampling"
        return self._generate(self.G, n, seed)

    def checkpoint_samples(self, n: int, seed: int) -> dict[int, np.ndarray]:
        """Samples of G at every checkpoint (same z for all): how the covered modes move."""
        G = copy.deepcopy(self.G)
        assert G is not None, "fit or load the trainer first"
        out = {}
        for step, state in self.checkpoints.items():
            G.load_state_dict(state)
            out[step] = self._generate(G, n, seed)
        return out

    def lipschitz(self, n: int, seed: int) -> float:
        """Empirical Lipschitz constant of x = G(z) in data units: max over n draws of z."""
        assert self.G is not None, "fit or load the trainer first"
        z = torch.randn(n, self.config.z_dim, generator=torch.Generator().manual_seed(seed))
        return float(jacobian_norms(self.G, z, self.std).max().detach())

    # --- persistence ------------------------------------------------------------------

    def module(self) -> nn.Module:
        assert self.G is not None, "fit or load the trainer first"
        return self.G

    def save(self, path: str | Path) -> None:
        assert self.G is not None and self.D is not None, "fit the trainer before saving"
        state = {"config": self.config.model_dump(), "dim": self.dim, "G": self.G.state_dict()}
        state |= {"D": self.D.state_dict(), "mean": self.mean, "std": self.std}
        state |= {"history": self.history, "checkpoints": self.checkpoints}
        torch.save(state, path)

    def load(self, path: str | Path) -> None:
        state = torch.load(path, weights_only=False)
        assert state["config"] == self.config.model_dump(), "saved with another config"
        self._build(state["dim"])
        assert self.G is not None and self.D is not None
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.mean, self.std = state["mean"], state["std"]
        self.history, self.checkpoints = state["history"], state["checkpoints"]


def _fit_or_fail(trainer: GANTrainer, x: np.ndarray, progress: ProgressFn | None):
    try:
        trainer.fit(x, progress)
    except TrainingDiverged as err:
        return err
    return None


def _batched(net: nn.Module) -> Callable[[dict[str, Tensor], Tensor], Tensor]:
    """``net`` (an ``mlp``) applied to stacked weights: (seeds, rows, d) → (seeds, rows, out).
    One ``baddbmm`` per layer for all seeds: several times faster than ``vmap`` over
    ``functional_call`` for these small layers."""
    assert isinstance(net, nn.Sequential)
    layers = list(net.named_children())

    def forward(p: dict[str, Tensor], h: Tensor) -> Tensor:
        for name, layer in layers:
            if isinstance(layer, nn.Linear):
                h = torch.baddbmm(p[f"{name}.bias"][:, None], h, p[f"{name}.weight"].mT)
            else:
                h = layer(h)
        return h

    return forward


class _VectorizedGAN:
    """Several seeds of one GAN config trained as one batched model (``fit_together``)."""

    D: Callable[[dict[str, Tensor], Tensor], Tensor]

    def __init__(self, trainers: list[GANTrainer]) -> None:
        self.trainers = trainers
        self.c = trainers[0].config
        nets = [(t.G, t.D) for t in trainers]
        gs = [g for g, _ in nets if g is not None]
        ds = [d for _, d in nets if d is not None]
        assert len(gs) == len(ds) == len(nets), "every trainer needs its networks built"
        self.pg = stack_module_state(gs)[0]  # type: ignore[misc]
        self.pd = stack_module_state(ds)[0]  # type: ignore[misc]
        self.G, self.D = _batched(gs[0]), _batched(ds[0])

    def _d(self, x: Tensor, params: dict[str, Tensor] | None = None) -> Tensor:
        """D's logits for (seeds, batch·m, d) rows, packed m at a time as PacGAN's D sees them."""
        packed = x.reshape(len(x), -1, self.c.pack * x.shape[-1]) * self.c.d_input_scale
        return self.D(self.pd if params is None else params, packed)

    def fit(self, data: Tensor, progress: list[ProgressFn | None]) -> list[TrainingDiverged | None]:
        c, ts = self.c, self.trainers
        opts = [
            torch.optim.Adam(p.values(), lr=lr, betas=(c.beta1, 0.999))
            for p, lr in ((self.pg, c.lr), (self.pd, c.d_lr))
        ]
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, ts[0]._lr_factor) for o in opts]
        gens = [torch.Generator().manual_seed(t.config.seed) for t in ts]
        failed: list[TrainingDiverged | None] = [None] * len(ts)
        n_real = c.batch * c.pack
        k = max(c.unroll, 1)
        for step in range(c.steps):
            # Per seed, the draws of GANTrainer.fit in its order: minibatch rows, then z.
            draws = [
                (
                    torch.randint(0, len(data), (k, n_real), generator=g),
                    torch.randn(n_real, c.z_dim, generator=g),
                )
                for g in gens
            ]
            real = data[torch.stack([i for i, _ in draws], 1)]  # (k, seeds, batch·m, d)
            fake = self.G(self.pg, torch.stack([z for _, z in draws]))
            d_loss = self._d_loss(real[0], fake.detach())
            opts[1].zero_grad(set_to_none=True)
            d_loss.sum().backward()
            # As GANTrainer.fit: unrolled from D before this step's update.
            params = self._unrolled(opts[1], real, fake) if c.unroll else None
            if c.updates == "alternating":
                opts[1].step()
            g_loss = self._g_loss(real[0], fake, params)
            opts[0].zero_grad(set_to_none=True)
            # Each seed's gradient is that of its own mean loss (the sum couples nothing).
            g_loss.sum().backward(inputs=list(self.pg.values()))
            if c.updates == "simultaneous":
                opts[1].step()
            opts[0].step()
            for s in scheds:
                s.step()
            self._record(step, d_loss, g_loss, progress, failed)
        for i, t in enumerate(ts):
            assert t.G is not None and t.D is not None
            t.G.load_state_dict(self._member(self.pg, i))
            t.D.load_state_dict(self._member(self.pd, i))
        return failed

    def _d_loss(
        self, real: Tensor, fake: Tensor, params: dict[str, Tensor] | None = None
    ) -> Tensor:
        """Per seed, GANTrainer.d_loss."""
        return F.softplus(-self._d(real, params)).mean((1, 2)) + F.softplus(
            self._d(fake, params)
        ).mean((1, 2))

    def _g_loss(
        self, real: Tensor, fake: Tensor, params: dict[str, Tensor] | None = None
    ) -> Tensor:
        """Per seed, GANTrainer._g_loss."""
        if self.c.g_loss == "minimax":
            return -self._d_loss(real, fake, params)
        return F.softplus(-self._d(fake, params)).mean((1, 2))

    def _unrolled(self, opt: torch.optim.Adam, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Every seed's D after k differentiable Adam steps (``unrolled`` on the stacked D)."""
        return unrolled(self.pd, opt, lambda p, r: self._d_loss(r, fake, p).sum(), real, self.c)

    @staticmethod
    def _member(stacked: dict[str, Tensor], i: int) -> dict[str, Tensor]:
        return {k: v[i].detach().clone() for k, v in stacked.items()}

    def _record(
        self,
        step: int,
        d_loss: Tensor,
        g_loss: Tensor,
        progress: list[ProgressFn | None],
        failed: list[TrainingDiverged | None],
    ) -> None:
        """Per seed still running: its divergence check, checkpoint and history row."""
        finite = (torch.isfinite(d_loss) & torch.isfinite(g_loss)).tolist()  # one sync per step
        for i, t in enumerate(self.trainers):
            if failed[i] is not None:
                continue  # its weights are NaN; the other seeds' slices are unaffected
            if not finite[i]:
                try:
                    t._check(step, d_loss[i], g_loss[i])
                except TrainingDiverged as err:
                    failed[i] = err
                    continue
            weights = partial(self._member, self.pg, i)  # G's weights of seed i, when asked
            t._record(step, d_loss[i], g_loss[i], progress[i], weights)
