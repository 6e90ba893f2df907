"""The train stage: every trainer of ``cfg.trainers`` × every data set × ``cfg.seeds`` seeds,
by registry key (on the grid only ``cfg.grid_trainers``); then the ±x regression (an MSE
regressor and a conditional MDN). A trainer class with ``fit_together`` (the GANs) fits all
seeds of a method as one batched model.

    from topiclab.plugins.mode_collapse.train import train
    result = train(ctx, cfg, data)      # result.data["runs"]: one record per training

The fits are independent jobs (``jobs``: a batched GAN fit, one seed of any other trainer, the
regression), each seeded by its own options. With ``cfg.workers`` > 1 they run in that many
worker processes (``core.processes``: spawned, one job each at a time, ``torch_threads``
threads each), the longest first; a job's step losses reach the trackers when it ends. Each
job computes what it computes in this process, so the numbers equal the serial path's
(``workers = 1``; tested), and ``runs`` keeps the jobs' order.

A training that diverges (a ``FloatingPointError``, such as the GAN's ``TrainingDiverged``) or
samples a non-finite number fails that seed only: its record says ``failed`` and why.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from topiclab.core.processes import completed, useful_workers, why_not_in_workers, worker_pool
from topiclab.core.topic import MetricsSink, StageContext, StageResult
from topiclab.nn.generative import GENERATIVE_TASK
from topiclab.nn.mdn import MDNConfig, fit_conditional
from topiclab.nn.threads import torch_threads
from topiclab.plugins.mode_collapse.config import ModeCollapseConfig, RegressionConfig

_log = logging.getLogger(__name__)
Logged = tuple[dict[str, float], int | None, str | None]  # a MetricsSink call


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
    # within the trainers' bound (2^31 − 1) for every topic seed; unchanged below 2,147,484
    options["seed"] = (1000 * cfg.seed + seed) % 2**31
    if "checkpoint_every" in fields and cfg.checkpoints and not stacked:
        steps = options.get("steps", fields["steps"].default if "steps" in fields else 1)
        options["checkpoint_every"] = max(1, steps // cfg.checkpoints)
    return options


@dataclass
class Output:
    """What a job hands back: run records and the files and models it wrote."""

    records: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    logged: list[Logged] = field(default_factory=list)  # a worker's step metrics, to log


def train(ctx: StageContext, cfg: ModeCollapseConfig, data: StageResult) -> StageResult:
    result = StageResult()
    runs: list[dict[str, Any]] = []
    with torch_threads(cfg.torch_threads):
        for out in run_jobs(ctx, cfg.workers, jobs(ctx, cfg, data)):
            runs += out.records
            result.files |= out.files
            result.models |= out.models
    result.data["runs"] = runs
    return result


class Job(Protocol):
    """A picklable unit of the stage: ``job(sink)`` fits, saves and returns its ``Output``."""

    @property
    def rank(self) -> int:
        """Submission order in a pool: the costliest kinds of job first."""

    def __call__(self, sink: MetricsSink) -> Output: ...


def run_jobs(ctx: StageContext, workers: int, todo: list[Job]) -> list[Output]:
    """Each job's output, in the jobs' order: here one after the other (``workers`` = 1), or
    in worker processes, the longest first (``rank``), logged as each ends."""
    workers = useful_workers(workers, len(todo))
    # Everything a worker unpickles: the jobs' trainers, their options, the jobs themselves.
    why = why_not_in_workers([in_worker, *todo]) if workers > 1 else None
    if why:
        _log.warning("fitting in this process, not in %d workers: %s", workers, why)
        workers = 1
    if workers == 1:
        with ctx.progress("fits", total=len(todo)) as bar:
            outs = []
            for i, job in enumerate(todo):
                outs.append(job(ctx.log_metrics))
                bar(i)
            return outs
    done: dict[int, Output] = {}
    threads = torch.get_num_threads()  # torch_threads' setting, in every worker too
    order = sorted(range(len(todo)), key=lambda i: todo[i].rank)
    with (
        ctx.progress(f"fits ({workers} processes)", total=len(todo)) as bar,
        worker_pool(workers, torch.set_num_threads, (threads,)) as pool,
    ):
        for i, out in completed(pool, in_worker, todo, order):
            for metrics, step, child in out.logged:
                ctx.log_metrics(metrics, step, child)
            done[i] = dataclasses.replace(out, logged=[])  # logged: the serial path's output
            bar(len(done) - 1)
    return [done[i] for i in range(len(todo))]


def in_worker(job: Job) -> Output:
    """Run ``job`` in a worker process, keeping its step metrics to log in the stage's."""
    logged: list[Logged] = []
    out = job(lambda metrics, step, child: logged.append((metrics, step, child)))
    return dataclasses.replace(out, logged=logged)


def jobs(ctx: StageContext, cfg: ModeCollapseConfig, data: StageResult) -> list[Job]:
    """Every fit of the stage in the serial order: per data set and method its seeds (one
    batched job, or a job per seed), stacked digits, then the ±x regression."""
    sampling = {"n_samples": cfg.n_samples, "lipschitz_samples": cfg.lipschitz_samples}
    if unused := cfg.unused_grid_options():
        _log.warning("grid_options for %s go unused: no grid fit of these trainers", unused)
    out: list[Job] = []
    sets: list[tuple[str, list[str], int]] = [(d, cfg.methods(d), cfg.seeds) for d in cfg.datasets]
    if cfg.stacked.enabled:
        sets.append(("stacked", list(cfg.stacked.trainers), cfg.stacked.seeds))
    for dataset, keys, seeds in sets:
        for key in keys:
            spec = ctx.registry.trainer(key, task=GENERATIVE_TASK)
            options = [run_options(ctx, cfg, key, s, dataset) for s in range(seeds)]
            trainers = [spec.create(o) for o in options]
            together = hasattr(type(trainers[0]), "fit_together")
            groups = [range(seeds)] if together else [range(s, s + 1) for s in range(seeds)]
            for group in groups:
                out.append(
                    FitJob(
                        dataset=dataset,
                        key=key,
                        seeds=tuple(group),
                        together=together,
                        trainers=tuple(trainers[s] for s in group),
                        x=data.files[f"{dataset}_train"],
                        workdir=str(ctx.workdir),
                        save_module=dataset == cfg.datasets[0],
                        **sampling,
                    )
                )
    out.append(RegressionJob(data.files["pm_x"], data.files["pm_y"], cfg.regression, cfg.seed,
                             str(ctx.workdir)))  # fmt: skip
    return out


@dataclass(frozen=True)
class FitJob:
    """``seeds`` of the (unfitted) ``trainers`` on one data set: together where the trainer
    class can fit several seeds at once (``fit_together``: the GANs, batched), else one."""

    dataset: str
    key: str
    seeds: tuple[int, ...]
    together: bool  # ``fit_together`` on all of them
    trainers: tuple[Any, ...]
    x: str  # the training rows (.npy)
    workdir: str
    save_module: bool  # seed 0's module is saved (the first data set's)
    n_samples: int
    lipschitz_samples: int

    @property
    def rank(self) -> int:
        """Submission order: batched seeds (the costly GANs) first, single seeds last."""
        return 0 if self.together else 2

    def __call__(self, sink: MetricsSink) -> Output:
        x = np.load(self.x)
        progress = [_progress(sink, self.dataset, self.key, s) for s in self.seeds]
        start = time.perf_counter()
        if self.together:
            errors = type(self.trainers[0]).fit_together(list(self.trainers), x, progress)
        else:
            errors = [_fit(self.trainers[0], x, progress[0])]
        # Each seed is charged its share of a batched fit, then its own sampling.
        share = (time.perf_counter() - start) / len(self.seeds)
        out = Output()
        for s, t, e in zip(self.seeds, self.trainers, errors, strict=True):
            out.records.append(self.finish(out, s, t, e, time.perf_counter() - share))
        return out

    def finish(
        self, out: Output, seed: int, trainer: Any, error: FloatingPointError | None, start: float
    ) -> dict[str, Any]:
        """Sample and record one fitted seed; a divergence (``error``, or a non-finite
        sample) fails this run only."""
        name = run_name(self.dataset, self.key, seed)
        record: dict[str, Any] = {
            "dataset": self.dataset, "method": self.key, "seed": seed, "status": "ok"
        }  # fmt: skip
        try:
            if error is not None:
                raise error
            samples = np.asarray(trainer.sample(self.n_samples, seed=10_000 + seed), np.float64)
            if not np.isfinite(samples).all():
                bad = np.sum(~np.isfinite(samples))
                raise FloatingPointError(f"{bad} non-finite sample values")
        except FloatingPointError as err:
            return record | {"status": "failed", "error": str(err).splitlines()[0]}
        record["seconds"] = round(time.perf_counter() - start, 2)
        out.files[name] = self.save(f"{name}.npy", samples)
        if hasattr(trainer, "checkpoint_samples") and getattr(trainer, "checkpoints", None):
            frames = trainer.checkpoint_samples(self.n_samples, seed=10_000 + seed)
            path = self.path(f"{name}-checkpoints.npz")
            np.savez(path, **{str(k): v for k, v in frames.items()})
            out.files[f"{name}-checkpoints"] = str(path)
        if hasattr(trainer, "lipschitz"):
            record["lipschitz"] = trainer.lipschitz(self.lipschitz_samples, seed=20_000 + seed)
        if seed == 0 and self.save_module and hasattr(trainer, "module"):
            path = self.path(f"{self.key}-{self.dataset}.pt")
            torch.save(trainer.module(), path)
            out.models[f"{self.key}-{self.dataset}"] = str(path)
        return record

    def path(self, name: str) -> Path:
        return Path(self.workdir) / name

    def save(self, name: str, array: np.ndarray) -> str:
        np.save(self.path(name), array)
        return str(self.path(name))


def _progress(sink: MetricsSink, dataset: str, key: str, seed: int) -> Any:
    """Step losses go to the child run that evaluate fills ("ring-gan"), a series per seed."""
    return lambda step, **m: sink(
        {f"s{seed}.{k}": float(v) for k, v in m.items()}, step, f"{dataset}-{key}"
    )


def _fit(trainer: Any, x: np.ndarray, progress: Any) -> FloatingPointError | None:
    try:
        trainer.fit(x, progress=progress)
    except FloatingPointError as err:
        return err
    return None


@dataclass(frozen=True)
class RegressionJob:
    """Fit y = ±x by MSE and by an MDN; save both on a grid of x for the evaluate stage."""

    x: str
    y: str
    cfg: RegressionConfig
    seed: int
    workdir: str
    rank: int = 1  # after the batched GANs, before the single seeds

    def __call__(self, sink: MetricsSink) -> Output:
        x, y = np.load(self.x), np.load(self.y)
        r = self.cfg
        torch.manual_seed(self.seed)
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
            MDNConfig(components=r.components, steps=r.steps, lr=r.lr, batch=r.n, seed=self.seed),
        )
        grid = torch.linspace(0, 1, 101)[:, None]
        path = Path(self.workdir) / "regression.npz"
        with torch.no_grad():
            pi, mu, sigma = mdn.params(grid)
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
        return Output(files={"regression": str(path)})
