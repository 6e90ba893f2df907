"""The train stage of gato: one set of weights on every task, and a text-only specialist.

    from topiclab.plugins.gato.train import train
    result = train(ctx, cfg, data)   # models: gato.pt, text_specialist.pt; files: histories

All come from the trainer named by ``cfg.trainer`` (task ``gato``), with the same size. The
text specialist trains on exactly the generalist's text sequences for the generalist's steps,
with text's share of its batch (rounded up: at least the text tokens the generalist saw;
``train.text_specialist_batch`` overrides it). Each control task's
specialist (``spec_<task>.pt``) trains on exactly the generalist's sequences of that task (the
expert's: DAgger, ``data.dagger_rounds``, rewrites only the generalist's copy), with
the compute the generalist spent on it (its steps / number of tasks, same batch) unless
``train.specialist_steps`` says otherwise: what one task gains or loses from sharing the
weights with the others. ``train.parallel`` models are fitted side by side (threads: the
standard profile fits two at a time, one per core). Checkpoints live under the stage's folder,
so a killed run resumes there.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from topiclab.core.topic import MetricsSink, Progress, StageContext, StageResult
from topiclab.nn import gato_tokenizer as gt
from topiclab.nn.threads import torch_threads
from topiclab.plugins.gato.config import GatoConfig
from topiclab.plugins.gato.dagger import DaggerHook
from topiclab.plugins.gato.data import groups, task_rows

HISTORY_COLUMNS = ("step", "loss", "val_loss", "lr", "grad_norm")


def trainer_options(
    ctx: StageContext,
    cfg: GatoConfig,
    name: str,
    steps: int | None = None,
    batch: int | None = None,
) -> dict[str, Any]:
    """The generalist's options; ``steps`` shortens the run, warm-up and evaluations in step,
    ``batch`` replaces the batch size."""
    tc = cfg.train.model_dump(exclude={"specialist_steps", "text_specialist_batch", "parallel"})
    if batch is not None:
        tc["batch_size"] = batch
    if steps is not None:
        share = steps / cfg.train.steps
        tc.update(
            steps=steps,
            warmup_steps=round(tc["warmup_steps"] * share),
            eval_every=round(tc["eval_every"] * share),
        )
    return {
        **cfg.model.model_dump(),
        **tc,
        "vocab_size": gt.VOCAB_SIZE,
        "seed": cfg.seed,
        "checkpoint_dir": str(ctx.path(f"checkpoints/{name}")),
        "checkpoint_every": max(1, tc["steps"] // 5),
    }


def specialist_steps(cfg: GatoConfig, task: str) -> int:
    """The generalist's steps on ``task``: its share of the sequence groups."""
    order = groups(cfg)
    share = order.count(task) / len(order)
    return cfg.train.specialist_steps or max(1, round(cfg.train.steps * share))


def text_batch(cfg: GatoConfig) -> int:
    """The text specialist's batch: the text task's share of the generalist's batch, rounded
    up, so that in as many steps it sees at least the text sequences the generalist saw."""
    n_groups = len(groups(cfg))
    return cfg.train.text_specialist_batch or math.ceil(cfg.train.batch_size / n_groups)


def is_text(seqs: np.ndarray) -> np.ndarray:
    """Sequences made only of text ids (the text task's)."""
    return np.asarray((seqs[..., 0] < gt.TEXT_START + gt.TEXT_SIZE).all(axis=1))


class SharedBar:
    """One progress bar for fits that run side by side: it shows their steps summed, and
    logs each fit's metrics under its own child run (one at a time: the sink is not assumed
    thread-safe)."""

    def __init__(self, bar: Progress, sink: MetricsSink) -> None:
        self.bar, self.sink = bar, sink
        self.done: dict[str, int] = {}
        self.lock = threading.Lock()

    def progress(self, name: str) -> Progress:
        def advance(step: int, metrics: dict[str, float]) -> None:
            with self.lock:
                self.done[name] = step + 1
                self.bar(sum(self.done.values()) - 1)

        def sink(metrics: dict[str, float], step: int | None, child: str | None) -> None:
            with self.lock:
                self.sink(metrics, step, child)

        return Progress(advance, sink, name)


Run = tuple[str, np.ndarray, np.ndarray, int | None, int | None]  # name, data, steps, batch


def fit_all(
    ctx: StageContext,
    cfg: GatoConfig,
    runs: list[Run],
    images: np.ndarray,
    hooks: dict[str, DaggerHook],
) -> dict[str, tuple[str, list[dict[str, float]], float]]:
    """Fit every run, ``cfg.train.parallel`` at a time in threads (torch's ops release the GIL;
    each op runs on the calling thread with ``threads=1``). The trainers are built first, in
    order, so their initial weights do not depend on the threads' timing. With
    ``data.dagger_rounds`` the generalist's progress is a ``DaggerHook`` (left in ``hooks``)."""
    trainers = {}
    for name, _, _, steps, batch in runs:
        options = trainer_options(ctx, cfg, name, steps, batch)
        trainers[name] = ctx.registry.trainer(cfg.trainer, task="gato").create(options)
    total = sum(t.config.steps for t in trainers.values())

    def fit(run: Run, bar: SharedBar) -> tuple[str, list[dict[str, float]], float]:
        name, train, val, _, _ = run
        t0 = time.perf_counter()
        progress: Any = bar.progress(name)
        pool: np.ndarray | torch.Tensor = train
        if name == "gato" and cfg.data.dagger_active():
            # DAgger rewrites rows of this tensor in place; the trainer batches from it
            pool = torch.from_numpy(train.astype(np.int64))
            progress = hooks[name] = DaggerHook(trainers[name].gato, pool, cfg, progress)
        history = trainers[name].fit(pool, val, progress=progress, images=images)
        path = trainers[name].save_model(ctx.path(f"{name}.pt"))
        return str(path), history, time.perf_counter() - t0

    with ctx.progress(f"train {len(runs)} models", total=total) as p:
        bar = SharedBar(p, ctx.metrics_sink)
        with ThreadPoolExecutor(cfg.train.parallel) as pool:
            futures = {run[0]: pool.submit(fit, run, bar) for run in runs}
            return {name: f.result() for name, f in futures.items()}


def train(ctx: StageContext, cfg: GatoConfig, data: StageResult) -> StageResult:
    train_seqs = np.load(data.files["train_seqs"])
    val_seqs = np.load(data.files["val_seqs"])
    images = np.load(data.files["patches"])
    models, files, metrics = {}, {}, {}
    runs: list[Run] = [
        ("gato", train_seqs, val_seqs, None, None),
        (
            "text_specialist",
            task_rows(train_seqs, cfg, "text"),
            task_rows(val_seqs, cfg, "text"),
            None,
            text_batch(cfg),
        ),
    ]
    for task in cfg.data.tasks:
        tr, va = (task_rows(s, cfg, task) for s in (train_seqs, val_seqs))
        runs.append((f"spec_{task}", tr, va, specialist_steps(cfg, task), None))
    hooks: dict[str, DaggerHook] = {}
    with torch_threads(cfg.threads):
        fitted = fit_all(ctx, cfg, runs, images, hooks)
    for name, hook in hooks.items():
        files[f"dagger_{name}"] = ctx.write_table(f"dagger_{name}.csv", hook.returns)
        for row in hook.returns:
            metrics[f"dagger_score_{row['task']}_round{row['round']}"] = row["rollout_score"]
    for name, (path, history, seconds) in fitted.items():
        models[name] = path
        files[name] = path
        rows = [{k: h.get(k, "") for k in HISTORY_COLUMNS} for h in history]
        files[f"history_{name}"] = ctx.write_table(f"history_{name}.csv", rows)
        metrics[f"train_seconds_{name}"] = seconds
        metrics[f"train_loss_{name}"] = history[-1]["loss"]
    return StageResult(metrics=metrics, models=models, files=files, params={"trainer": cfg.trainer})
