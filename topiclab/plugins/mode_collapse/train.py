"""The train stage: every trainer of ``cfg.trainers`` × every data set × ``cfg.seeds`` seeds,
by registry key (on the grid only ``cfg.grid_trainers``); then the ±x regression (an MSE
regressor and a conditional MDN). A trainer class with ``fit_together`` (the GANs) fits all
seeds of a method as one batched model.

    from topiclab.plugins.mode_collapse.train import train
    result = train(ctx, cfg, data)      # result.data["runs"]: one record per training

A training that diverges (a ``FloatingPointError``, such as the GAN's ``TrainingDiverged``) or
samples a non-finite number fails that seed only: its record says ``failed`` and why.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn.generative import GENERATIVE_TASK
from topiclab.nn.mdn import MDNConfig, fit_conditional
from topiclab.nn.threads import torch_threads
from topiclab.plugins.mode_collapse.config import ModeCollapseConfig


def run_name(dataset: str, key: str, seed: int) -> str:
    return f"{dataset}-{key}-s{seed}"


def run_options(
    ctx: StageContext, cfg: ModeCollapseConfig, key: str, seed: int, dataset: str = "ring"
) -> dict:
    """The user's options for ``key`` on ``dataset`` (the grid's merged on), a seed per run,
    and checkpoints where the trainer has them (GANs, not on stacked digits): ``checkpoints``
    snapshots spread over its steps."""
    spec = ctx.registry.trainer(key, task=GENERATIVE_TASK)
    fields = spec.config.model_fields if spec.config is not None else {}
    stacked = dataset == "stacked"
    options = dict(cfg.stacked.trainers[key] if stacked else cfg.options(key, dataset))
    options["seed"] = 1000 * cfg.seed + seed
    if "checkpoint_every" in fields and cfg.checkpoints and not stacked:
        steps = options.get("steps", fields["steps"].default if "steps" in fields else 1)
        options["checkpoint_every"] = max(1, steps // cfg.checkpoints)
    return options


def train(ctx: StageContext, cfg: ModeCollapseConfig, data: StageResult) -> StageResult:
    result = StageResult()
    runs: list[dict[str, Any]] = []
    with torch_threads(cfg.torch_threads):
        for dataset in cfg.datasets:
            x = np.load(data.files[f"{dataset}_train"])
            for key in cfg.methods(dataset):
                with ctx.progress(f"{key} on {dataset}", total=cfg.seeds, child=key) as bar:
                    runs += fit_seeds(ctx, cfg, result, dataset, key, cfg.seeds, x, bar)
        if cfg.stacked.enabled:
            x = np.load(data.files["stacked_train"])
            for key in cfg.stacked.trainers:
                runs += fit_seeds(ctx, cfg, result, "stacked", key, cfg.stacked.seeds, x)
        result.files |= regression(ctx, cfg, data)
    result.data["runs"] = runs
    return result


def fit_seeds(
    ctx: StageContext,
    cfg: ModeCollapseConfig,
    result: StageResult,
    dataset: str,
    key: str,
    seeds: int,
    x: np.ndarray,
    bar: Any = None,
) -> list[dict[str, Any]]:
    """All seeds of (data set, trainer): at once where the trainer class can fit several
    seeds together (``fit_together``: the GANs, batched), else one after the other."""
    spec = ctx.registry.trainer(key, task=GENERATIVE_TASK)

    def make(seed: int) -> Any:
        return spec.create(run_options(ctx, cfg, key, seed, dataset))

    batched = getattr(type(make(0)), "fit_together", None)
    if batched is None:
        records = []
        for s in range(seeds):
            trainer, start = make(s), time.perf_counter()
            error = _fit(trainer, x, _progress(ctx, dataset, key, s))
            records.append(finish(ctx, cfg, result, dataset, key, s, trainer, error, start))
            if bar:
                bar(s + 1)
        return records
    trainers = [make(s) for s in range(seeds)]
    start = time.perf_counter()
    errors = batched(trainers, x, [_progress(ctx, dataset, key, s) for s in range(seeds)])
    # Each seed is charged its share of the batched fit, then its own sampling.
    share = (time.perf_counter() - start) / seeds
    records = [
        finish(ctx, cfg, result, dataset, key, s, t, e, time.perf_counter() - share)
        for s, (t, e) in enumerate(zip(trainers, errors, strict=True))
    ]
    if bar:
        bar(seeds)
    return records


def _progress(ctx: StageContext, dataset: str, key: str, seed: int) -> Any:
    """Step losses go to the child run that evaluate fills ("ring-gan"), a series per seed."""
    return lambda step, **m: ctx.log_metrics(
        {f"s{seed}.{k}": v for k, v in m.items()}, step, f"{dataset}-{key}"
    )


def _fit(trainer: Any, x: np.ndarray, progress: Any) -> FloatingPointError | None:
    try:
        trainer.fit(x, progress=progress)
    except FloatingPointError as err:
        return err
    return None


def finish(
    ctx: StageContext,
    cfg: ModeCollapseConfig,
    result: StageResult,
    dataset: str,
    key: str,
    seed: int,
    trainer: Any,
    error: FloatingPointError | None,
    start: float,
) -> dict[str, Any]:
    """Sample and record one fitted (data set, trainer, seed); a divergence (``error``, or a
    non-finite sample) fails this run only."""
    name = run_name(dataset, key, seed)
    record: dict[str, Any] = {"dataset": dataset, "method": key, "seed": seed, "status": "ok"}
    try:
        if error is not None:
            raise error
        samples = np.asarray(trainer.sample(cfg.n_samples, seed=10_000 + seed), np.float64)
        if not np.isfinite(samples).all():
            raise FloatingPointError(f"{np.sum(~np.isfinite(samples))} non-finite sample values")
    except FloatingPointError as err:
        return record | {"status": "failed", "error": str(err).splitlines()[0]}
    record["seconds"] = round(time.perf_counter() - start, 2)
    np.save(ctx.path(f"{name}.npy"), samples)
    result.files[name] = str(ctx.path(f"{name}.npy"))
    if hasattr(trainer, "checkpoint_samples") and getattr(trainer, "checkpoints", None):
        frames = trainer.checkpoint_samples(cfg.n_samples, seed=10_000 + seed)
        np.savez(ctx.path(f"{name}-checkpoints.npz"), **{str(k): v for k, v in frames.items()})
        result.files[f"{name}-checkpoints"] = str(ctx.path(f"{name}-checkpoints.npz"))
    if hasattr(trainer, "lipschitz"):
        record["lipschitz"] = trainer.lipschitz(cfg.lipschitz_samples, seed=20_000 + seed)
    if seed == 0 and dataset == cfg.datasets[0] and hasattr(trainer, "module"):
        torch.save(trainer.module(), ctx.path(f"{key}-{dataset}.pt"))
        result.models[f"{key}-{dataset}"] = str(ctx.path(f"{key}-{dataset}.pt"))
    return record


def regression(ctx: StageContext, cfg: ModeCollapseConfig, data: StageResult) -> dict[str, str]:
    """Fit y = ±x by MSE and by an MDN; save both on a grid of x for the evaluate stage."""
    x, y = np.load(data.files["pm_x"]), np.load(data.files["pm_y"])
    r = cfg.regression
    torch.manual_seed(cfg.seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(1, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 1),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(r.steps):  # full batch: a few thousand points
        loss = ((net(xt) - yt) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    mdn = fit_conditional(
        x,
        y,
        MDNConfig(components=r.components, steps=r.steps, lr=r.lr, batch=r.n, seed=cfg.seed),
    )
    grid = torch.linspace(0, 1, 101)[:, None]
    with torch.no_grad():
        pi, mu, sigma = mdn.params(grid)
        path = ctx.path("regression.npz")
        np.savez(
            path,
            x=grid.numpy(),
            mse=net(grid).numpy(),
            pi=pi.numpy(),
            mu=mu.numpy(),
            sigma=sigma.numpy(),
            data_x=x,
            data_y=y,
        )
    return {"regression": str(path)}
