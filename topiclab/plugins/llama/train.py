"""The train stage of llama: the trainer named by ``cfg.trainer`` (task ``language-model``).

    from topiclab.plugins.llama.train import train
    result = train(ctx, cfg, data)        # models: llama.pt; files: model, history.csv

The trainer writes checkpoints under the stage's folder, so a killed run resumes there. With
``train.processes`` > 1 the stage runs that many DDP ranks under torchrun
(``topiclab.nn.llama_ddp``): rank 0 writes the checkpoints and the model, and this process,
which owns the MLflow run, logs them; the other ranks log nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from topiclab.core.errors import ConfigError
from topiclab.core.topic import StageContext, StageResult
from topiclab.nn.threads import torch_threads
from topiclab.plugins.llama.config import LlamaConfig

HISTORY_COLUMNS = ("step", "loss", "val_loss", "lr", "grad_norm")


def trainer_options(ctx: StageContext, cfg: LlamaConfig, vocab_size: int) -> dict[str, Any]:
    """The trainer's options: the topic's model and optimisation sections, plus the run's."""
    return {
        **cfg.model.model_dump(),
        **cfg.train.model_dump(exclude={"processes"}),  # how many runs it, not a trainer option
        "vocab_size": vocab_size,
        "seed": cfg.seed,
        "checkpoint_dir": str(ctx.path("checkpoints")),
        "checkpoint_every": max(1, cfg.train.steps // 5),
    }


def train(ctx: StageContext, cfg: LlamaConfig, data: StageResult) -> StageResult:
    if cfg.train.processes > 1:
        return train_data_parallel(ctx, cfg, data)
    spec = ctx.registry.trainer(cfg.trainer, task="language-model")
    trainer = spec.create(trainer_options(ctx, cfg, data.data["vocab_size"]))
    train_ids = np.load(data.files["train_ids"])
    val_ids = np.load(data.files["val_ids"])
    t0 = time.perf_counter()
    with torch_threads(cfg.threads), ctx.progress("train llama", total=cfg.train.steps) as p:
        history = trainer.fit(train_ids, val_ids, progress=p)
    seconds = time.perf_counter() - t0
    model_path = trainer.save_model(ctx.path("llama.pt"))
    return _result(ctx, cfg, history, trainer.model, model_path, seconds)


def train_data_parallel(ctx: StageContext, cfg: LlamaConfig, data: StageResult) -> StageResult:
    """``train.processes`` ranks under torchrun; this process (which owns the tracked run)
    reads rank 0's history and model, the other ranks report nothing."""
    import torch

    from topiclab.nn.llama_ddp import train_data_parallel as run_ranks

    if cfg.trainer != "llama":
        raise ConfigError(f"train.processes > 1 needs trainer 'llama', not '{cfg.trainer}'")
    options = trainer_options(ctx, cfg, data.data["vocab_size"])
    t0 = time.perf_counter()
    with ctx.progress("train llama (DDP)", total=cfg.train.steps) as p:
        history, model_path = run_ranks(
            options,
            data.files["train_ids"],
            data.files["val_ids"],
            ctx.path("ddp"),
            cfg.train.processes,
            progress=p,
        )
    seconds = time.perf_counter() - t0
    model = torch.load(model_path, weights_only=False)  # written by our own rank 0
    final = Path(model_path).replace(ctx.path("llama.pt"))
    return _result(ctx, cfg, history, model, final, seconds)


def _result(
    ctx: StageContext,
    cfg: LlamaConfig,
    history: list[dict[str, float]],
    model: Any,
    model_path: Path,
    seconds: float,
) -> StageResult:
    rows = [{k: h.get(k, "") for k in HISTORY_COLUMNS} for h in history]
    last_val = next(h["val_loss"] for h in reversed(history) if "val_loss" in h)
    metrics = {
        "train_loss": history[-1]["loss"],
        "val_loss_estimate": last_val,
        "params": sum(p.numel() for p in model.parameters()),
        "train_seconds": seconds,
        "train_tokens_per_s": float(np.median([h["tokens_per_s"] for h in history])),
        "train_processes": cfg.train.processes,
    }
    return StageResult(
        metrics=metrics,
        models={"llama": str(model_path)},
        files={"model": str(model_path), "history": ctx.write_table("history.csv", rows)},
        params={"trainer": cfg.trainer, **{f"model.{k}": v for k, v in cfg.model}},
        data={"model_args": model.params.to_dict()},
    )
