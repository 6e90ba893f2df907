"""The data of the mode-collapse topic, exactly as in PacGAN's code, and two 1-D targets.

    mix = mixture("ring")                 # 8 means at arange(8)·2π/8, radius 1, σ = 0.01
    x = sample_mixture(mix, 2_500, seed=0)
    p = bimodal_pdf(np.linspace(-5, 5, 11))    # 0.5·N(−2, 0.5²) + 0.5·N(2, 0.5²)
    x, y = plus_minus_x(1_000, seed=0)    # y = ±x with probability ½, x ∼ U[0, 1]

PacGAN (Lin et al. 2018, `2DRing*/config.py`, `2DGrid*/config.py`): the ring of 8 Gaussians
of radius 1 and σ = 0.01, and the grid of 25 at {−4, −2, 0, 2, 4}² with σ = 0.05; 100,000
training points. ``generate(ctx, cfg)`` is the generate stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from topiclab.core.topic import StageContext, StageResult

if TYPE_CHECKING:
    from topiclab.plugins.mode_collapse.config import ModeCollapseConfig

# The 1-D bimodal target of the KL-direction demonstration.
BIMODAL_MEANS = (-2.0, 2.0)
BIMODAL_STD = 0.5


@dataclass(frozen=True)
class Mixture:
    """Equal-weight isotropic Gaussian mixture."""

    means: np.ndarray
    std: float


def mixture(name: str) -> Mixture:
    if name == "ring":
        # np.arange, not np.linspace(0, 2π, 8): linspace repeats the first mode (7 distinct),
        # the bug of the widely copied unrolled-GAN notebook.
        angles = np.arange(8) * 2 * np.pi / 8
        return Mixture(np.stack([np.cos(angles), np.sin(angles)], 1), 0.01)
    if name == "grid":
        g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
        return Mixture(np.stack(np.meshgrid(g, g), -1).reshape(-1, 2), 0.05)
    raise ValueError(f"unknown mixture {name!r}; choose from: ring, grid")


def sample_mixture(mix: Mixture, n: int, seed: int) -> np.ndarray:
    """``n`` points, float32: a uniform mode, then Gaussian noise of σ around its mean."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, len(mix.means), n)
    return (mix.means[k] + mix.std * rng.normal(size=(n, mix.means.shape[1]))).astype(np.float32)


def normal_pdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))


def bimodal_pdf(x: np.ndarray) -> np.ndarray:
    return sum(0.5 * normal_pdf(x, m, BIMODAL_STD) for m in BIMODAL_MEANS)  # type: ignore[return-value]


def plus_minus_x(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x ∼ U[0, 1]; y = +x or −x with probability ½: E[y | x] = 0, where no data lie."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    y = np.where(rng.random(n) < 0.5, x, -x)
    return x.astype(np.float32)[:, None], y.astype(np.float32)[:, None]


def load_digits01(seed: int) -> dict[str, np.ndarray]:
    """scikit-learn's digits (1,797 8×8 images, shipped with the package) in [0, 1], split
    3:1 into train (the generators' and the classifier's) and test (the real-data row)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.images))
    cut = len(order) * 3 // 4
    images = (d.images / 16.0).astype(np.float32)
    tr, te = order[:cut], order[cut:]
    return {
        "x_train": images[tr],
        "y_train": d.target[tr],
        "x_test": images[te],
        "y_test": d.target[te],
    }


def stack_digits(images: np.ndarray, labels: np.ndarray, n: int, seed: int):
    """n images of 3 channels, each a random digit: (n, 3, 8, 8) and the mode 100a + 10b + c
    (1,000 modes, as Stacked MNIST's colour channels)."""
    idx = np.random.default_rng(seed).integers(0, len(images), (n, 3))
    mode = labels[idx] @ np.array([100, 10, 1])
    return images[idx].astype(np.float32), mode


def generate(ctx: StageContext, cfg: ModeCollapseConfig) -> StageResult:
    files: dict[str, str] = {}
    for i, name in enumerate(cfg.datasets):
        path = ctx.path(f"{name}_train.npy")
        np.save(path, sample_mixture(mixture(name), cfg.n_train, seed=1000 * cfg.seed + i))
        files[f"{name}_train"] = str(path)
    x, y = plus_minus_x(cfg.regression.n, seed=1000 * cfg.seed + 99)
    np.save(ctx.path("pm_x.npy"), x)
    np.save(ctx.path("pm_y.npy"), y)
    files |= {"pm_x": str(ctx.path("pm_x.npy")), "pm_y": str(ctx.path("pm_y.npy"))}
    if cfg.stacked.enabled:
        digits = load_digits01(cfg.seed)
        train, _ = stack_digits(digits["x_train"], digits["y_train"], cfg.stacked.n_train, 1)
        test, _ = stack_digits(digits["x_test"], digits["y_test"], cfg.n_samples, 2)
        arrays = digits | {"stacked_train": train, "stacked_test": test}
        for name, a in arrays.items():
            np.save(ctx.path(f"{name}.npy"), a)
            files[name] = str(ctx.path(f"{name}.npy"))
    return StageResult(files=files, params={"datasets": cfg.datasets, "n_train": cfg.n_train})
