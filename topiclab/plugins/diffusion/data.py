"""The data of the diffusion topic: four 2-D distributions and scikit-learn's 8×8 digits.

    x = sample_2d("ring", 10_000, seed=0)       # (n, 2) float32
    mix = mixture("grid")                       # means and σ where the density is known
    images, labels = load_digits_images()       # (1797, 1, 8, 8) in [-1, 1], labels 0..9

Ring and grid are Gaussian mixtures with known density (ring: 8 modes on a circle of radius 2,
σ = 0.02 — PacGAN's ring scaled by 2; grid: 25 modes at {−4, −2, 0, 2, 4}², σ = 0.05). Moons
and Swiss roll are scaled to a similar spread; their density is not known in closed form.
``generate(ctx, cfg)`` is the generate stage: train/test splits of each as ``.npy`` files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from topiclab.core.topic import StageContext, StageResult

if TYPE_CHECKING:
    from topiclab.plugins.diffusion.config import DiffusionConfig

Dataset2D = Literal["ring", "grid", "moons", "swissroll"]
DATASETS_2D: tuple[str, ...] = ("ring", "grid", "moons", "swissroll")


@dataclass(frozen=True)
class Mixture:
    """Equal-weight isotropic Gaussian mixture."""

    means: np.ndarray
    std: float


def mixture(name: str) -> Mixture | None:
    """The exact mixture behind ``name``, or None when the density is not a known mixture."""
    if name == "ring":
        # np.arange, not np.linspace(0, 2π, 8): linspace repeats the first mode (7 distinct).
        angles = np.arange(8) * 2 * np.pi / 8
        return Mixture(2.0 * np.stack([np.cos(angles), np.sin(angles)], 1), 0.02)
    if name == "grid":
        g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
        return Mixture(np.stack(np.meshgrid(g, g), -1).reshape(-1, 2), 0.05)
    return None


def sample_2d(name: str, n: int, seed: int) -> np.ndarray:
    """``n`` points of a 2-D dataset, float32, reproducible by seed."""
    rng = np.random.default_rng(seed)
    mix = mixture(name)
    if mix is not None:
        k = rng.integers(0, len(mix.means), n)
        return (mix.means[k] + mix.std * rng.normal(size=(n, 2))).astype(np.float32)
    if name == "moons":
        from sklearn.datasets import make_moons

        x, _ = make_moons(n, noise=0.05, random_state=int(rng.integers(2**31)))
        return ((x - [0.5, 0.25]) * 2.0).astype(np.float32)
    if name == "swissroll":
        from sklearn.datasets import make_swiss_roll

        x, _ = make_swiss_roll(n, noise=0.3, random_state=int(rng.integers(2**31)))
        return (x[:, [0, 2]] / 5.0).astype(np.float32)
    raise ValueError(f"unknown 2-D dataset {name!r}; choose from: {', '.join(DATASETS_2D)}")


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (shipped with the package, no download) scaled to [−1, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 8.0 - 1.0).astype(np.float32)[:, None]  # pixel values 0..16
    return images, d.target.astype(np.int64)


def generate(ctx: StageContext, cfg: DiffusionConfig) -> StageResult:
    """Train and test points of each 2-D dataset; the digits split 5:1 into train and test."""
    files: dict[str, str] = {}
    params: dict[str, Any] = {}
    for i, name in enumerate(cfg.toy.datasets):
        for split, n, offset in (("train", cfg.toy.n_train, 0), ("test", cfg.toy.n_test, 1)):
            path = ctx.path(f"{name}_{split}.npy")
            np.save(path, sample_2d(name, n, seed=1000 * cfg.seed + 10 * i + offset))
            files[f"{name}_{split}"] = str(path)
    if cfg.digits.enabled:
        images, labels = load_digits_images()
        order = np.random.default_rng(cfg.seed).permutation(len(images))
        n_test = len(images) // 6  # 299 test images, the rest to train on
        for split, idx in (("test", order[:n_test]), ("train", order[n_test:])):
            np.save(ctx.path(f"digits_{split}.npy"), images[idx])
            np.save(ctx.path(f"digits_{split}_labels.npy"), labels[idx])
            files[f"digits_{split}"] = str(ctx.path(f"digits_{split}.npy"))
            files[f"digits_{split}_labels"] = str(ctx.path(f"digits_{split}_labels.npy"))
        params["digits_train"] = len(images) - n_test
    return StageResult(files=files, params=params | {"datasets": cfg.toy.datasets})
