"""Config of the diffusion topic. Defaults are the ``standard`` profile (2 CPU cores, < 6 min).

topiclab run diffusion --profile quick --set trainer=ddpm --set toy.steps=500
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from topiclab.core.topic import TopicConfig


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToyConfig(_Part):
    """The 2-D part. ``steps``/``batch``/``lr`` are given to DDPM; other trainers get
    ``trainer_options`` (validated by their own config)."""

    datasets: list[str] = Field(default_factory=lambda: ["ring", "grid", "moons", "swissroll"])
    n_train: int = 10_000
    n_test: int = 2_000
    n_samples: int = 1_500
    n_bound: int = Field(default=500, description="test points for the variational bound")
    steps: int = 2_500
    batch: int = 256
    lr: float = 1e-3
    hidden: int = 128
    layers: int = 3
    T: int = 1_000
    beta_end: float = Field(default=0.02, description="last β of the linear schedule (DDPM: 0.02)")
    ddim_steps: list[int] = Field(default_factory=lambda: [20, 50])


class DigitsConfig(_Part):
    """The image part: a small U-Net DDPM on scikit-learn's 8×8 digits."""

    enabled: bool = True
    trainer: str = "ddpm"
    steps: int = 1_200
    batch: int = 64
    lr: float = 2e-3
    width: int = 16
    T: int = 200
    beta_end: float = Field(
        default=0.1, description="T = 200 needs a larger last β: ᾱ_T = 3.2e-5 with 0.1"
    )
    n_samples: int = 300


class DiffusionConfig(TopicConfig):
    trainer: str = Field(
        default="ddpm", description="generative trainer for the 2-D data (registry key)"
    )
    trainer_options: dict[str, Any] = Field(
        default_factory=dict, description="extra options for the trainer's own config"
    )
    toy: ToyConfig = Field(default_factory=lambda: ToyConfig())
    digits: DigitsConfig = Field(default_factory=lambda: DigitsConfig())
    torch_threads: int = Field(
        default=1, description="torch threads (1 is fastest on a shared 2-core box)"
    )


# quick: T = 100 needs β up to 0.2 — with DDPM's 0.02, ᾱ_T = 0.364 (the schedule check warns).
QUICK: dict[str, Any] = {
    "toy": {
        "datasets": ["ring", "moons"],
        "n_train": 2_000,
        "n_test": 500,
        "n_samples": 500,
        "n_bound": 200,
        "steps": 300,
        "T": 100,
        "beta_end": 0.2,
        "ddim_steps": [10],
    },
    "digits": {"steps": 100, "T": 100, "beta_end": 0.2, "n_samples": 100, "width": 16},
}
FULL: dict[str, Any] = {
    "toy": {
        "steps": 10_000,
        "n_samples": 5_000,
        "n_test": 5_000,
        "n_bound": 5_000,
        "hidden": 256,
        "ddim_steps": [10, 20, 50, 100],
    },
    "digits": {
        "steps": 20_000,
        "width": 64,
        "batch": 128,
        "T": 1000,
        "beta_end": 0.02,
        "n_samples": 2_000,
    },
}
