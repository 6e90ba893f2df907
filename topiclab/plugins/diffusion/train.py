"""The train stage of diffusion: one generative trainer per 2-D dataset, and one for digits.

    from topiclab.plugins.diffusion.train import train, reload_trainer
    result = train(ctx, cfg, data)       # samples, saved states, models, loss tables
    trainer = reload_trainer(ctx, trained, "ring")   # in evaluate: the fitted trainer again

Trainers come from the registry by key (``cfg.trainer`` for 2-D, ``cfg.digits.trainer``);
``save``/``load``/``module``/``history`` are optional parts of the generative interface.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn.generative import GENERATIVE_TASK
from topiclab.nn.threads import torch_threads
from topiclab.plugins.diffusion.config import DiffusionConfig


def trainer_seed(seed: int, i: int) -> int:
    """The seed of the topic's ``i``-th fit, within the trainers' bound (2^31 − 1) for every
    topic seed; unchanged below 21,474,837."""
    return (seed * 100 + i) % 2**31


def trainer_options(cfg: DiffusionConfig, seed: int, image: bool) -> dict[str, Any]:
    """Options for the trainer: the topic's DDPM settings (2-D ones only for ``ddpm``), the
    seed, then ``trainer_options`` for the 2-D trainer."""
    if image:
        d = cfg.digits
        return {
            "denoiser": "unet",
            "T": d.T,
            "beta_end": d.beta_end,
            "steps": d.steps,
            "batch": d.batch,
            "lr": d.lr,
            "width": d.width,
            "seed": seed,
        }
    t = cfg.toy
    opts: dict[str, Any] = {"seed": seed}
    if cfg.trainer == "ddpm":
        opts |= {
            "T": t.T,
            "beta_end": t.beta_end,
            "steps": t.steps,
            "batch": t.batch,
            "lr": t.lr,
            "hidden": t.hidden,
            "layers": t.layers,
        }
    return opts | cfg.trainer_options


def create_trainer(ctx: StageContext, key: str, options: dict[str, Any]) -> Any:
    return ctx.registry.trainer(key, task=GENERATIVE_TASK).create(options)


def reload_trainer(ctx: StageContext, trained: StageResult, name: str) -> Any:
    """The trainer of ``name`` rebuilt from its options and, where it saved one, its state."""
    info = trained.data[name]
    trainer = create_trainer(ctx, info["trainer"], info["options"])
    if hasattr(trainer, "load") and f"{name}_state" in trained.files:
        trainer.load(trained.files[f"{name}_state"])
    return trainer


def train(ctx: StageContext, cfg: DiffusionConfig, data: StageResult) -> StageResult:
    result = StageResult()
    jobs: list[tuple[str, str, bool]] = [(name, cfg.trainer, False) for name in cfg.toy.datasets]
    if cfg.digits.enabled:
        jobs.append(("digits", cfg.digits.trainer, True))
    with torch_threads(cfg.torch_threads):
        for i, (name, key, image) in enumerate(jobs):
            options = trainer_options(cfg, trainer_seed(cfg.seed, i), image)
            _fit_one(ctx, cfg, data, result, name, key, image, options)
    return result


def _fit_one(
    ctx: StageContext,
    cfg: DiffusionConfig,
    data: StageResult,
    result: StageResult,
    name: str,
    key: str,
    image: bool,
    options: dict[str, Any],
) -> None:
    """Fit, save, sample and record one trainer into ``result``."""
    trainer = create_trainer(ctx, key, options)
    x = np.load(data.files[f"{name}_train"])
    steps = int(options.get("steps", 1))
    with ctx.progress(f"train {key} {name}", total=steps, child=name) as progress:
        trainer.fit(x, progress=progress)
    # Optional parts of the generative interface: a state to reload in evaluate, and a torch
    # module for the tracker to log.
    if hasattr(trainer, "save"):
        trainer.save(ctx.path(f"{name}.state"))
        result.files[f"{name}_state"] = str(ctx.path(f"{name}.state"))
    if hasattr(trainer, "module"):
        torch.save(trainer.module(), ctx.path(f"{key}-{name}.pt"))
        result.models[f"{key}-{name}"] = str(ctx.path(f"{key}-{name}.pt"))
    n = cfg.digits.n_samples if image else cfg.toy.n_samples
    start = time.perf_counter()
    np.save(ctx.path(f"{name}_samples.npy"), trainer.sample(n, seed=cfg.seed))
    seconds = time.perf_counter() - start
    if hasattr(trainer, "history") and trainer.history:
        result.tables[f"loss_{name}"] = ctx.write_table(f"loss_{name}.csv", trainer.history)
        result.metrics[f"{name}.final_loss"] = trainer.history[-1]["loss_avg"]
    result.files[f"{name}_samples"] = str(ctx.path(f"{name}_samples.npy"))
    result.data[name] = {"trainer": key, "options": options, "sample_seconds": seconds}
