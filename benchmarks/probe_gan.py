"""Probe a GAN recipe on PacGAN's ring or grid: seeds batched (``GANTrainer.fit_together``),
PacGAN's metric on 2,500 samples of G at a few checkpoints, and the fit's CPU time.

    python benchmarks/probe_gan.py ring --set steps=8000 lr=1e-3 lr_min_frac=0.02
    python benchmarks/probe_gan.py grid --set steps=8000 beta1=0.8 pack=2 --seeds 5

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", choices=sorted(DATA_SEED))
    ap.add_argument("--set", nargs="*", default=[], help="GANConfig options, key=value")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--checkpoints", type=int, default=4)
    ap.add_argument("--n-train", type=int, default=100_000)
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
    print(f"fit CPU {cpu:.1f} s; failed seeds {failed}")


if __name__ == "__main__":
    main()
