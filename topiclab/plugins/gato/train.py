"""The train stage of gato: one set of weights on every task, and a text-only specialist.

    from topiclab.plugins.gato.train import train
    result = train(ctx, cfg, data)   # models: gato.pt, text_specialist.pt; files: histories

Both come from the trainer named by ``cfg.trainer`` (task ``gato``) with the same size and the
same number of steps and batch (the same compute); the specialist sees only text, drawn from a
pool of text windows as large as the generalist's whole pool.
Checkpoints live under the stage's folder, so a killed run resumes there.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn import gato_tokenizer as gt
from topiclab.nn.threads import torch_threads
from topiclab.plugins.gato.config import GatoConfig

HISTORY_COLUMNS = ("step", "loss", "val_loss", "lr", "grad_norm")


def trainer_options(ctx: StageContext, cfg: GatoConfig, name: str) -> dict[str, Any]:
    return {
        **cfg.model.model_dump(),
        **cfg.train.model_dump(),
        "vocab_size": gt.VOCAB_SIZE,
        "seed": cfg.seed,
        "checkpoint_dir": str(ctx.path(f"checkpoints/{name}")),
        "checkpoint_every": max(1, cfg.train.steps // 5),
    }


def is_text(seqs: np.ndarray) -> np.ndarray:
    """Sequences made only of text ids (the text task's)."""
    return np.asarray((seqs[..., 0] < gt.TEXT_START + gt.TEXT_SIZE).all(axis=1))


def fit_one(
    ctx: StageContext,
    cfg: GatoConfig,
    name: str,
    train: np.ndarray,
    val: np.ndarray,
    images: np.ndarray,
) -> tuple[str, list[dict[str, float]], float]:
    trainer = ctx.registry.trainer(cfg.trainer, task="gato").create(trainer_options(ctx, cfg, name))
    t0 = time.perf_counter()
    with ctx.progress(f"train {name}", total=cfg.train.steps, child=name) as p:
        history = trainer.fit(train, val, progress=p, images=images)
    path = trainer.save_model(ctx.path(f"{name}.pt"))
    return str(path), history, time.perf_counter() - t0


def train(ctx: StageContext, cfg: GatoConfig, data: StageResult) -> StageResult:
    train_seqs = np.load(data.files["train_seqs"])
    val_seqs = np.load(data.files["val_seqs"])
    images = np.load(data.files["patches"])
    models, files, metrics = {}, {}, {}
    with torch_threads(cfg.threads):
        for name, tr, va in (
            ("gato", train_seqs, val_seqs),
            ("text_specialist", np.load(data.files["text_seqs"]), val_seqs[is_text(val_seqs)]),
        ):
            path, history, seconds = fit_one(ctx, cfg, name, tr, va, images)
            models[name] = path
            files[name] = path
            rows = [{k: h.get(k, "") for k in HISTORY_COLUMNS} for h in history]
            files[f"history_{name}"] = ctx.write_table(f"history_{name}.csv", rows)
            metrics[f"train_seconds_{name}"] = seconds
            metrics[f"train_loss_{name}"] = history[-1]["loss"]
    return StageResult(metrics=metrics, models=models, files=files, params={"trainer": cfg.trainer})
