"""Config of the diffusion topic. Defaults are the ``standard`` profile (2 CPU cores, < 6 min).

topiclab run diffusion --profile quick --set trainer=ddpm --set toy.steps=500

Every number has bounds (upper ones are sanity limits far above ``full``); ``trainer`` and
``digits.trainer`` must be registered trainers of task ``generative``: all checked before
anything runs.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from topiclab.core.config import RegistryKey, RegistryOptions
from topiclab.core.topic import ConfigSection, Distinct, FieldError, TopicConfig
from topiclab.nn.generative import GENERATIVE_TASK
from topiclab.plugins.diffusion.data import Dataset2D

MAX_STEPS = 1_000_000
MAX_POINTS = 10_000_000
MAX_T = 10_000
GenerativeTrainer = Annotated[str, RegistryKey("trainer", task=GENERATIVE_TASK)]
# The last β of a linear schedule that starts at DDPM's β_1 = 1e-4: above it, and below 1
# (β_t = 1 would erase the signal in one step).
BetaEnd = Annotated[float, Field(gt=1e-4, lt=1)]


def _all_datasets() -> list[Dataset2D]:
    return ["ring", "grid", "moons", "swissroll"]


class ToyConfig(ConfigSection):
    """The 2-D part. ``steps``/``batch``/``lr`` are given to DDPM; other trainers get
    ``trainer_options`` (validated by their own config)."""

    datasets: Annotated[list[Dataset2D], Distinct] = Field(
        default_factory=lambda: _all_datasets(), min_length=1
    )
    n_train: int = Field(default=10_000, ge=100, le=MAX_POINTS)
    n_test: int = Field(default=2_000, ge=10, le=MAX_POINTS)
    n_samples: int = Field(default=1_500, ge=10, le=MAX_POINTS)
    n_bound: int = Field(
        default=500, ge=1, le=MAX_POINTS, description="test points for the variational bound"
    )
    steps: int = Field(default=2_500, ge=1, le=MAX_STEPS)
    batch: int = Field(default=256, ge=1, le=65_536)
    lr: float = Field(default=1e-3, gt=0, le=1)
    hidden: int = Field(default=128, ge=1, le=8_192)
    layers: int = Field(default=3, ge=1, le=64)
    T: int = Field(default=1_000, ge=2, le=MAX_T)
    beta_end: BetaEnd = Field(
        default=0.02, description="last β of the linear schedule (DDPM: 0.02)"
    )
    ddim_steps: Annotated[list[Annotated[int, Field(ge=1, le=MAX_T)]], Distinct] = Field(
        default_factory=lambda: [20, 50], min_length=1, max_length=16
    )

    @model_validator(mode="after")
    def _ddim_within_T(self) -> ToyConfig:
        if max(self.ddim_steps) > self.T:
            raise ValueError(f"ddim_steps {self.ddim_steps} must not exceed T ({self.T})")
        return self


class DigitsConfig(ConfigSection):
    """The image part: a small U-Net DDPM on scikit-learn's 8×8 digits."""

    enabled: bool = True
    trainer: GenerativeTrainer = "ddpm"
    steps: int = Field(default=1_200, ge=1, le=MAX_STEPS)
    batch: int = Field(default=64, ge=1, le=65_536)
    lr: float = Field(default=2e-3, gt=0, le=1)
    # The U-Net normalises with GroupNorm(8, width): channels must split into 8 groups.
    width: int = Field(default=16, ge=8, le=1_024, multiple_of=8, description="U-Net channels")
    T: int = Field(default=200, ge=2, le=MAX_T)
    beta_end: BetaEnd = Field(
        default=0.1, description="T = 200 needs a larger last β: ᾱ_T = 3.2e-5 with 0.1"
    )
    # The Fréchet distance needs a covariance of the samples' features: more than a handful.
    n_samples: int = Field(default=300, ge=10, le=100_000)


class DiffusionConfig(TopicConfig):
    model_config = ConfigDict(strict=True)

    trainer: GenerativeTrainer = Field(
        default="ddpm", description="generative trainer for the 2-D data (registry key)"
    )
    trainer_options: Annotated[
        dict[str, Any], RegistryOptions("trainer", key_field="trainer", task=GENERATIVE_TASK)
    ] = Field(default_factory=dict, description="extra options for the trainer's own config")
    toy: ToyConfig = Field(default_factory=lambda: ToyConfig())
    digits: DigitsConfig = Field(default_factory=lambda: DigitsConfig())
    torch_threads: int = Field(
        default=1, ge=0, le=1_024, description="torch threads (1 is fastest on a shared 2-core box)"
    )

    @model_validator(mode="after")
    def _options_the_stages_can_take(self) -> DiffusionConfig:
        # The evaluate stage reads T and β from `toy` (DDIM steps, the exact-score sampler,
        # the trajectory's times): a DDPM trained with others failed after training, or was
        # compared with the wrong process. The 2-D data are rows, which the U-Net cannot take.
        if self.trainer == "ddpm":
            for key in ("T", "beta_end"):
                if key in self.trainer_options:
                    raise FieldError(
                        f"trainer_options.{key}", f"the topic sets it: use toy.{key} instead"
                    )
            if self.trainer_options.get("denoiser", "mlp") != "mlp":
                raise FieldError(
                    "trainer_options.denoiser", "the 2-D data take 'mlp' (the U-Net is for digits)"
                )
        # The digits part hands its trainer U-Net options (denoiser, width, T, β) that only
        # the DDPM trainer takes.
        if self.digits.enabled and self.digits.trainer != "ddpm":
            raise FieldError(
                "digits.trainer",
                f"the digits part trains a U-Net DDPM: only 'ddpm' takes its options; got "
                f"'{self.digits.trainer}' (or set digits.enabled=false)",
            )
        return self


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
