"""Config of the mode-collapse topic. ``standard`` aims at 8 minutes on 2 CPU cores: its fits
run in ``workers`` = 2 processes, 266–290 s of wall time in three runs (473.93 s in one
process, the same numbers; the timed runs are in docs/topics/mode-collapse.md).

    topiclab run mode-collapse --profile quick
    topiclab run mode-collapse --set seeds=10 --set trainers.gan.steps=5000
    topiclab run mode-collapse --set 'trainers.gmm={"n_components": 8}'   # a plugin's trainer
    topiclab run mode-collapse --config docs/topics/mode-collapse-metz-2017.toml  # METZ_2017
    topiclab run mode-collapse --config docs/topics/mode-collapse-metz-notebook.toml

``trainers`` maps registered generative trainers (any plugin's, checked before anything runs)
to their options, which their own config validates; each is trained ``seeds`` times on each
data set. GAN-type trainers (those with ``checkpoint_every``) keep ``checkpoints`` snapshots
for the mode-cycling table.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from topiclab.core.config import ExecutionOption, RegistryKey
from topiclab.core.topic import ConfigSection, FieldError, TopicConfig
from topiclab.nn.generative import GENERATIVE_TASK

MAX_POINTS = 10_000_000
Dataset = Literal["ring", "grid"]
_RING: tuple[Dataset, ...] = ("ring",)
TrainerKeys = Annotated[
    list[str], RegistryKey("trainer", task=GENERATIVE_TASK, keys_of_mapping=True)
]
TrainerOptions = Annotated[
    dict[str, dict[str, Any]],
    RegistryKey("trainer", task=GENERATIVE_TASK, keys_of_mapping=True),
]

# Every GAN: PacGAN's data, z ∼ N(0, I₂) and init (weights N(0, 0.02²), zero biases), but
# Adam at 2e-3 with a cosine decay to 2e-5 for a few thousand steps instead of PacGAN's 1e-4
# for 400 epochs (400k steps; their 4 × 400 / maxout nets cost 2.7 CPU hours per seed here,
# benchmarks/bench_gan_seeds.py): minutes, not hours. D has 3 hidden layers, G 2.
# Measured (benchmarks/probe_gan.py, 5 seeds; docs/topics/mode-collapse.md): PyTorch's init
# trains the ring GAN to 91 % HQ but never drops a mode (8.0 of 8); PacGAN's init starts G as
# one point at the centre, and with the 3-layer D the ring GAN drops modes at 88–90 % HQ
# (7.0 at lr 2e-3, 5.6 at 1e-3) while PacGAN2 keeps 7.6–7.8; lr 2e-3 also takes the grid GAN
# to 51 % HQ (1e-3: 30 %). Init std 0.1 or PyTorch's init with the 3-layer D: 8.0 again.
# On the grid the GANs train longer with a higher lr floor (GRID_GAN, below).
_GAN: dict[str, Any] = {
    "steps": 8000,
    "lr": 2e-3,
    "lr_min_frac": 0.01,
    "batch": 128,
    "init": "normal",
    "d_layers": 3,
}
# The stacked-digits GAN keeps the earlier recipe (PyTorch's init, D 2 layers, lr 1e-3 → 2e-5):
# PacGAN's init on 192-D images was not measured.
_GAN_STACKED: dict[str, Any] = {"steps": 1000, "lr": 1e-3, "lr_min_frac": 0.02, "batch": 128}
# A measurement, not a profile (docs/topics/mode-collapse.md): Metz et al. 2017 (Unrolled GAN),
# App. A, their 2-D mixture setup for the ring and grid GANs, run by
# `topiclab run mode-collapse --config docs/topics/mode-collapse-metz-2017.toml` (that file
# holds these options; a test keeps them equal). It left the GANs untrained (0.7 % HQ).
# z ∼ N(0, I₂₅₆) → G 2 × 128 ReLU → 2; D 1 × 128 ReLU → 1 after scaling its input to about
# (−1, 1) (theirs: ×1/4 on a radius-2 ring; ours: standardized data × 0.35 puts PacGAN's ring at
# radius 0.5 for D, as theirs, and the grid at ±0.5); orthogonal init × 0.8; Adam 1e-4 (β1 0.5)
# for both, no decay; batch 512 (App. A as recalled; their notebook differs: see the docs).
# Metz et al. train 25k steps (their Fig. 1): 14.5 ms a step for 5 batched seeds here, so the
# measurement trains 3,000.
METZ_2017: dict[str, Any] = {
    "steps": 3000,
    "batch": 512,
    "z_dim": 256,
    "hidden": 128,
    "layers": 2,
    "d_layers": 1,
    "d_act": "relu",
    "init": "orthogonal",
    "init_gain": 0.8,
    "lr": 1e-4,
    "lr_min_frac": 1.0,
    "beta1": 0.5,
    "standardize": True,
    "d_input_scale": 0.35,
}
METZ_2017_TRAINERS: dict[str, dict[str, Any]] = {
    "gan": dict(METZ_2017),
    "pacgan": METZ_2017 | {"pack": 2},
    "unrolled-gan": METZ_2017 | {"unroll": 5, "steps": 500},
}
# A measurement, not a profile: Metz et al.'s public notebook (poolio/unrolled_gan, "Unrolled
# GAN demo.ipynb"), every value read from its code: z ∼ N(0, I₂₅₆); G and D 2 × 128 tanh
# (slim.stack); orthogonal init × 1.4, zero biases; Adam G 1e-3, D 1e-4, β1 0.5, no decay;
# batch 512; G minimizes −L_D (minimax) and both nets step from the same weights (one
# sess.run); raw data (its ring has radius 1 like PacGAN's). The GAN is non-saturating,
# so that is the loss here; `g_loss = "minimax"` gives the notebook's. The notebook trains 25k
# steps; 5 batched seeds cost 30 ms a step here, so the measurement trains 5,000. Run it:
# `topiclab run mode-collapse --config docs/topics/mode-collapse-metz-notebook.toml`.
METZ_NOTEBOOK: dict[str, Any] = {
    "steps": 5000,
    "batch": 512,
    "z_dim": 256,
    "hidden": 128,
    "layers": 2,
    "d_layers": 2,  # stated: `standard`'s D has 3, and the config files merge onto it
    "g_act": "tanh",
    "d_act": "tanh",
    "init": "orthogonal",
    "init_gain": 1.4,
    "lr": 1e-3,
    "lr_d": 1e-4,
    "lr_min_frac": 1.0,
    "beta1": 0.5,
    "standardize": False,
    "updates": "simultaneous",
    "g_loss": "non-saturating",
}
METZ_NOTEBOOK_TRAINERS: dict[str, dict[str, Any]] = {
    "gan": dict(METZ_NOTEBOOK),
    "pacgan": METZ_NOTEBOOK | {"pack": 2, "steps": 3000},
    "unrolled-gan": METZ_NOTEBOOK | {"unroll": 5, "steps": 500},
}
# The grid GANs' recipe (`grid_options`, merged onto `_GAN` for the GAN and PacGAN alike; the
# ring keeps `_GAN`): 12,000 steps with the cosine decay stopping at 5e-4 (a quarter of 2e-3)
# instead of 8,000 steps to 2e-5. Measured (benchmarks/probe_gan.py --spread, 5 seeds; docs):
# on `_GAN` the grid G puts 35–46 % of PacGAN2's samples ≥ 10σ from every mode, on the grid
# lines between modes, and its HQ still rises when the decayed lr freezes it (36 % at 8,000
# steps); a higher lr floor and more steps pull those bridges into the modes (PacGAN2 65.5 %
# HQ), while wider nets, z ∈ R⁸, raw data or a sharper D input did not help. Cost: 1.5× the
# two grid fits' CPU time (PacGAN2 115 s for 5 seeds, against 71–83 s): the standard run
# took 520.7 s wall, 41 s over its 8 minutes.
GRID_GAN: dict[str, Any] = {"steps": 12_000, "lr_min_frac": 0.25}
GRID_OPTIONS: dict[str, dict[str, Any]] = {"gan": dict(GRID_GAN), "pacgan": dict(GRID_GAN)}
STANDARD_TRAINERS: dict[str, dict[str, Any]] = {
    "gan": dict(_GAN),
    # m = 2: PacGAN4's D input is 4× larger and learned too slowly in 2,000 steps.
    "pacgan": _GAN | {"pack": 2},
    # Unrolling (k = 5 second-order D steps) costs ~10 vanilla steps per step, seeds batched:
    # 800 steps (with PyTorch's init 400 left it at 3.8 % HQ). On this recipe it stays
    # collapsed (0.6 modes), and no fair change fixed it (docs/topics/mode-collapse.md, "The
    # unrolled GAN: why it stays collapsed"): the look-ahead is D's own Adam (tested), but G's
    # gradient through the look-ahead D's parameters is as large as the direct part and mostly
    # opposed, so G settles as a blob or on one sharp mode it does not leave; k = 1 or 10,
    # 1,600 or 3,200 steps (one mode at 91–100 % HQ), the decayed lr in the look-ahead or
    # G's minimax loss kept it at ≤ 1 mode (2 seeds).
    "unrolled-gan": _GAN | {"unroll": 5, "steps": 800},
    "vae": {"steps": 1000},
    "mdn": {"steps": 500, "components": 30},
    # T = 200 with β up to 0.1 (ᾱ_T = 3e-5): a fifth of the 1000 sampling passes.
    "ddpm": {"steps": 2000, "T": 200, "beta_end": 0.1},
}


# 192-D images: wider nets, a larger z/latent than the ring's 2 (1,000 modes to reach).
STACKED_TRAINERS: dict[str, dict[str, Any]] = {
    "gan": _GAN_STACKED | {"hidden": 256, "z_dim": 16},
    "vae": {"steps": 600, "hidden": 256, "latent": 8},
}


class RegressionConfig(ConfigSection):
    """y = +x or −x (probability ½ each), x ∼ U[0, 1]: an MSE regressor against an MDN."""

    n: int = Field(default=4_000, ge=10, le=65_536, description="points; one full batch")
    steps: int = Field(default=3_000, ge=1, le=1_000_000)
    components: int = Field(default=2, ge=1, le=64)
    # Full batches at 1e-3: the branch weights are read to ± 0.05. At 1e-2 one branch's
    # component died (weight → 0); at 3e-3 or with batches of 1,024 they wandered by 0.07–0.1.
    lr: float = Field(default=1e-3, gt=0, le=1)


class StackedConfig(ConfigSection):
    """Stacked digits (Stacked MNIST's analogue): three scikit-learn digits as the 3 channels
    of one 8×8 image, 1,000 modes, counted with a digits classifier."""

    enabled: bool = True
    n_train: int = Field(default=20_000, ge=10, le=MAX_POINTS, description="stacked triples")
    seeds: int = Field(default=5, ge=1, le=1_000)
    trainers: TrainerOptions = Field(default_factory=lambda: copy.deepcopy(STACKED_TRAINERS))


class ModeCollapseConfig(TopicConfig):
    datasets: list[Dataset] = Field(default_factory=lambda: list(_RING), min_length=1)
    # PacGAN Table 1's rows among our trainers; a key not in ``trainers`` is not trained.
    grid_trainers: TrainerKeys = Field(
        default_factory=lambda: ["gan", "pacgan"], description="of `trainers`, also on the grid"
    )
    n_train: int = Field(default=100_000, ge=100, le=MAX_POINTS, description="PacGAN: 100k")
    n_samples: int = Field(default=2_500, ge=10, le=MAX_POINTS, description="per evaluation")
    seeds: int = Field(default=5, ge=1, le=1_000, description="trainings per method")
    trainers: TrainerOptions = Field(default_factory=lambda: copy.deepcopy(STANDARD_TRAINERS))
    # Options merged onto ``trainers`` on the grid only (for the keys in ``grid_trainers``):
    # the grid GANs' own recipe, the same for each of them so that they compare on equal terms.
    grid_options: TrainerOptions = Field(
        default_factory=dict, description="per key of `trainers`: its options on the grid"
    )
    checkpoints: int = Field(default=10, ge=0, le=1_000, description="GAN snapshots (cycling)")
    lipschitz_samples: int = Field(default=2_500, ge=1, le=1_000_000)
    regression: RegressionConfig = Field(default_factory=lambda: RegressionConfig())
    stacked: StackedConfig = Field(default_factory=lambda: StackedConfig())
    # Not an execution option: 2 threads moved the ±x MDN's branch weight in the 7th digit
    # (0.46555218 against 0.46555239), so a run with other threads recomputes the fits.
    torch_threads: int = Field(default=1, ge=0, le=1_024, description="1: fastest on 2 cores")
    # The fits are independent jobs (train.py); each worker runs one at a time with
    # ``torch_threads`` threads. An execution option: the numbers do not depend on it
    # (tests/plugins/mode_collapse/test_workers.py), the time does, so changing it reuses
    # the cached stages.
    workers: Annotated[int, ExecutionOption()] = Field(
        default=2, ge=1, le=64, description="processes the fits run in (1: this one, in turn)"
    )

    def methods(self, dataset: str) -> list[str]:
        """The trainer keys fitted on ``dataset``, in the order of ``trainers``."""
        return [k for k in self.trainers if dataset != "grid" or k in self.grid_trainers]

    def options(self, key: str, dataset: str) -> dict[str, Any]:
        """``key``'s options on ``dataset``: ``trainers[key]``, on the grid with
        ``grid_options[key]`` merged on top."""
        extra = self.grid_options.get(key, {}) if dataset == "grid" else {}
        return self.trainers[key] | extra

    @model_validator(mode="after")
    def _grid_options_name_trainers(self) -> ModeCollapseConfig:
        # A misspelt key would be ignored silently.
        if unknown := sorted(set(self.grid_options) - set(self.trainers)):
            raise FieldError("grid_options", f"{unknown} are not keys of `trainers`")
        return self

    @model_validator(mode="after")
    def _row_denoisers(self) -> ModeCollapseConfig:
        # Every data set here is rows (2-D points, flattened stacked digits): the DDPM's
        # U-Net ('unet', for images) failed in the train stage, after the fits before it.
        tables = {
            "trainers": self.trainers,
            "grid_options": self.grid_options,
            "stacked.trainers": self.stacked.trainers,
        }
        for name, table in tables.items():
            for key, options in table.items():
                if options.get("denoiser") == "unet":
                    raise FieldError(
                        f"{name}.{key}.denoiser",
                        "the data here are rows: 'mlp' (the U-Net takes images)",
                    )
        return self

    def unused_grid_options(self) -> list[str]:
        """Keys of ``grid_options`` that no grid fit uses (a trainer not in ``grid_trainers``,
        or every key when 'grid' is not in ``datasets``). Not an error: narrowing `standard`
        (``--set datasets='["ring"]'``) must not require clearing its grid options too; the
        train stage warns instead."""
        on_grid = set(self.methods("grid")) if "grid" in self.datasets else set()
        return sorted(set(self.grid_options) - on_grid)

    @model_validator(mode="after")
    def _every_dataset_has_a_method(self) -> ModeCollapseConfig:
        # A data set without a method would reach the figures as a grid of zero rows.
        for dataset in self.datasets:
            if not self.methods(dataset):
                key = "grid_trainers" if dataset == "grid" else "trainers"
                raise FieldError(key, f"no trainer of `trainers` is left to fit on '{dataset}'")
        return self


def _with(trainers: dict[str, dict[str, Any]], **changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v | changes.get(k.replace("-", "_"), {}) for k, v in trainers.items()}


# Profiles carry the whole trainers table, so that `--set trainers.gmm={}` adds a method
# (a deep merge) instead of replacing the table.
STANDARD: dict[str, Any] = {
    # The grid with PacGAN Table 1's two rows that we train (GAN, PacGAN), with the grid's
    # recipe for both.
    "datasets": ["ring", "grid"],
    "trainers": copy.deepcopy(STANDARD_TRAINERS),
    "grid_options": copy.deepcopy(GRID_OPTIONS),
    "stacked": {"trainers": copy.deepcopy(STACKED_TRAINERS)},
}
QUICK: dict[str, Any] = {
    "datasets": ["ring", "grid"],
    # Seconds of fits: starting the worker processes costs more than they save (5.4 s in
    # one process, 8.5 s with two: benchmarks/bench_mode_collapse_workers.py).
    "workers": 1,
    "n_train": 5_000,
    "seeds": 2,
    "checkpoints": 3,
    "lipschitz_samples": 200,
    "regression": {"n": 1_000, "steps": 200},
    "stacked": {
        "n_train": 2_000,
        "seeds": 1,
        "trainers": _with(STACKED_TRAINERS, gan={"steps": 30}, vae={"steps": 30}),
    },
    "trainers": _with(
        STANDARD_TRAINERS,
        gan={"steps": 60},
        pacgan={"steps": 60},
        unrolled_gan={"steps": 20, "unroll": 2},
        vae={"steps": 60},
        mdn={"steps": 60},
        ddpm={"steps": 60, "T": 50, "beta_end": 0.5},
    ),
}
FULL: dict[str, Any] = {
    "datasets": ["ring", "grid"],
    "grid_trainers": list(STANDARD_TRAINERS),
    # The grid recipe's lr floor; its 20,000 steps already exceed the standard grid's 12,000.
    "grid_options": {k: {"lr_min_frac": GRID_GAN["lr_min_frac"]} for k in GRID_OPTIONS},
    "seeds": 10,
    "stacked": {
        "seeds": 10,
        "trainers": _with(STACKED_TRAINERS, gan={"steps": 20_000}, vae={"steps": 20_000}),
    },
    "trainers": _with(
        STANDARD_TRAINERS,
        # The standard recipe, longer; PacGAN4 (PacGAN Table 1's best ring and grid row).
        gan={"steps": 20_000},
        pacgan={"steps": 20_000, "pack": 4},
        unrolled_gan={"steps": 5_000},
        vae={"steps": 10_000},
        mdn={"steps": 5_000},
        ddpm={"steps": 10_000, "T": 1000, "beta_end": 0.02},
    ),
}
