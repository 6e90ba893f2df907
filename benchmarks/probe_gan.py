"""Probe a GAN recipe on PacGAN's ring or grid: seeds batched (``GANTrainer.fit_together``),
PacGAN's metric on 2,500 samples of G at a few checkpoints, and the fit's CPU time.

    python benchmarks/probe_gan.py ring --set steps=8000 lr=1e-3 lr_min_frac=0.02
    python benchmarks/probe_gan.py grid --set steps=8000 beta1=0.8 pack=2 --seeds 5
    python benchmarks/probe_gan.py grid --set pack=2 --spread --save /tmp/pac2.npz

``--spread`` splits each seed's last samples by their distance to the nearest mode, in σ: on a
mode (< 3σ, HQ), blurred beside it (3–10σ) or between modes (≥ 10σ; the grid's modes are 40σ
apart), and gives the median distance of the samples within 10σ (exact samples: 1.18σ): a
blurred mode and a bridge between modes lower the HQ for different reasons.

``--set`` takes GANConfig options, read as ``topiclab run --set`` reads them. The data are the
topic's (100,000 points, data seed 0 for the ring, 1 for the grid), and each seed's samples use
the topic's z seed (10,000 + seed), so the last line repeats what the standard run would print.
CPU time is ``time.process_time`` of the fit alone, one torch thread.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from topiclab.core.config import parse_override
from topiclab.nn.gan import GANConfig, GANTrainer
from topiclab.nn.sample_metrics import mode_metrics
from topiclab.plugins.mode_collapse.data import mixture, sample_mixture

DATA_SEED = {"ring": 0, "grid": 1}


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``key=value`` items as ``topiclab run --set`` reads them (``core.config``)."""
    return {".".join(key): value for key, value in map(parse_override, items)}


def row(label: str, ms: list[dict[str, float]]) -> str:
    modes = [int(m["modes"]) for m in ms]
    pct = [int(m["modes_1pct"]) for m in ms]
    hq = [100 * m["hq_frac"] for m in ms]
    return (
        f"{label:>7} modes {' '.join(map(str, modes))} (mean {np.mean(modes):.1f}) | "
        f"1% {' '.join(map(str, pct))} | HQ {' '.join(f'{h:.0f}' for h in hq)} "
        f"(mean {np.mean(hq):.1f})"
    )


def spread(x: np.ndarray, means: np.ndarray, std: float) -> tuple[float, float, float, float]:
    """Fractions at < 3σ, 3–10σ and ≥ 10σ from the nearest mode; median distance (σ) < 10σ."""
    d = np.sqrt(((x[:, None, :] - means[None]) ** 2).sum(-1)).min(1) / std
    near = d[d < 10]
    median = float(np.median(near)) if len(near) else float("nan")
    return (
        float((d < 3).mean()),
        float(((d >= 3) & (d < 10)).mean()),
        float((d >= 10).mean()),
        median,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", choices=sorted(DATA_SEED))
    ap.add_argument("--set", nargs="*", default=[], help="GANConfig options, key=value")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--checkpoints", type=int, default=4)
    ap.add_argument("--n-train", type=int, default=100_000)
    ap.add_argument("--spread", action="store_true", help="where the non-HQ samples sit")
    ap.add_argument("--save", help="write the last samples of every seed to this .npz")
    args = ap.parse_args()
    torch.set_num_threads(1)
    mix = mixture(args.data)
    x = sample_mixture(mix, args.n_train, seed=DATA_SEED[args.data])
    options = parse_sets(args.set)
    steps = int(options.get("steps", GANConfig().steps))
    every = max(1, steps // args.checkpoints)
    cfgs = [GANConfig(**options, checkpoint_every=every, seed=s) for s in range(args.seeds)]
    print(f"{args.data}: {options}")
    trainers = [GANTrainer(c) for c in cfgs]
    start = time.process_time()
    errors = GANTrainer.fit_together(trainers, x)
    cpu = time.process_time() - start
    failed = [i for i, e in enumerate(errors) if e is not None]
    ok = [t for t, e in zip(trainers, errors, strict=True) if e is None]
    frames = [t.checkpoint_samples(2500, seed=10_000 + t.config.seed) for t in ok]
    for step in frames[0] if frames else []:
        print(row(str(step), [mode_metrics(f[step], mix.means, mix.std) for f in frames]))
    last = [f[max(f)] for f in frames]
    if args.spread:
        for t, xs in zip(ok, last, strict=True):
            hq, near, far, med = spread(xs, mix.means, mix.std)
            print(
                f"  seed {t.config.seed}: < 3σ {100 * hq:.0f} %, 3–10σ {100 * near:.0f} %, "
                f"≥ 10σ {100 * far:.0f} %; median distance within 10σ {med:.2f}σ"
            )
    if args.save:
        arrays: dict[str, Any] = {f"seed{t.config.seed}": x for t, x in zip(ok, last, strict=True)}
        np.savez(args.save, **arrays)
    print(f"fit CPU {cpu:.1f} s; failed seeds {failed}")


if __name__ == "__main__":
    main()
