"""The train stage of llama: the trainer named by ``cfg.trainer`` (task ``language-model``).

    from topiclab.plugins.llama.train import train
    result = train(ctx, cfg, data)        # models: llama.pt; files: model, history.csv

The trainer writes checkpoints under the stage's folder, so a killed run resumes there.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn.threads import torch_threads
from topiclab.plugins.llama.config import LlamaConfig

HISTORY_COLUMNS = ("step", "loss", "val_loss", "lr", "grad_norm")


def trainer_options(ctx: StageContext, cfg: LlamaConfig, vocab_size: int) -> dict[str, Any]:
    """The trainer's options: the topic's model and optimisation sections, plus the run's."""
    return {
        **cfg.model.model_dump(),
        **cfg.train.model_dump(),
        "vocab_size": vocab_size,
        "seed": cfg.seed,
        "checkpoint_dir": str(ctx.path("checkpoints")),
        "checkpoint_every": max(1, cfg.train.steps // 5),
    }


def train(ctx: StageContext, cfg: LlamaConfig, data: StageResult) -> StageResult:
    spec = ctx.registry.trainer(cfg.trainer, task="language-model")
    trainer = spec.create(trainer_options(ctx, cfg, data.data["vocab_size"]))
    train_ids = np.load(data.files["train_ids"])
    val_ids = np.load(data.files["val_ids"])
    t0 = time.perf_counter()
    with torch_threads(cfg.threads), ctx.progress("train llama", total=cfg.train.steps) as p:
        history = trainer.fit(train_ids, val_ids, progress=p)
    seconds = time.perf_counter() - t0
    model_path = trainer.save_model(ctx.path("llama.pt"))
    rows = [{k: h.get(k, "") for k in HISTORY_COLUMNS} for h in history]
    last_val = next(h["val_loss"] for h in reversed(history) if "val_loss" in h)
    metrics = {
        "train_loss": history[-1]["loss"],
        "val_loss_estimate": last_val,
        "params": sum(p.numel() for p in trainer.model.parameters()),
        "train_seconds": seconds,
        "train_tokens_per_s": float(np.median([h["tokens_per_s"] for h in history])),
    }
    return StageResult(
        metrics=metrics,
        models={"llama": str(model_path)},
        files={"model": str(model_path), "history": ctx.write_table("history.csv", rows)},
        params={"trainer": cfg.trainer, **{f"model.{k}": v for k, v in cfg.model}},
        data={"model_args": trainer.model.params.to_dict()},
    )
