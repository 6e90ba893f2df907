"""GAN training cost on the 2-D ring: seeds batched into one model (``GANTrainer.fit_together``)
against one ``fit`` per seed, and the cost of one step of PacGAN's own networks.

    .venv/bin/python benchmarks/bench_gan_seeds.py                    # 5 seeds, 300 steps
    .venv/bin/python benchmarks/bench_gan_seeds.py --seeds 5 --steps 300 --pacgan-steps 20

Times are CPU seconds of this process (``time.process_time``, one torch thread), so that a
loaded machine changes them less than wall time; "ratio" is per-seed time / batched time.
PacGAN's networks (Lin et al. 2018, `2DGrid_GAN&PacGAN`): G 2 → 4 × 400 (batch norm, ReLU,
no biases) → 2, D maxout (200 units × 5 pieces) × 3 → 1, batch 100; its tables train
400 epochs of 100,000 points = 400,000 steps, which the last line converts into hours.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from topiclab.nn.gan import GANConfig, GANTrainer
from topiclab.plugins.mode_collapse.data import mixture, sample_mixture

PACGAN_STEPS = 400 * 100_000 // 100


class Maxout(nn.Module):
    def __init__(self, d_in: int, units: int, pieces: int) -> None:
        super().__init__()
        self.lin, self.pieces = nn.Linear(d_in, units * pieces), pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).unflatten(-1, (-1, self.pieces)).amax(-1)


def pacgan_nets(pack: int = 1) -> tuple[nn.Module, nn.Module]:
    g: list[nn.Module] = []
    for a in (2, 400, 400, 400):
        g += [nn.Linear(a, 400, bias=False), nn.BatchNorm1d(400), nn.ReLU()]
    d = [Maxout(2 * pack, 200, 5), Maxout(200, 200, 5), Maxout(200, 200, 5), nn.Linear(200, 1)]
    return nn.Sequential(*g, nn.Linear(400, 2)), nn.Sequential(*d)


def pacgan_step_seconds(x: np.ndarray, steps: int) -> float:
    """CPU seconds per simultaneous D and G Adam step (lr 1e-4, β1 0.8), as in PacGAN's code."""
    G, D = pacgan_nets()
    opt = torch.optim.Adam([*G.parameters(), *D.parameters()], lr=1e-4, betas=(0.8, 0.999))
    data = torch.as_tensor(x)
    start = time.process_time()
    for _ in range(steps):
        real, fake = data[torch.randint(0, len(data), (100,))], G(torch.randn(100, 2))
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        g_loss = F.softplus(-D(fake)).mean()
        opt.zero_grad(set_to_none=True)
        d_grads = torch.autograd.grad(d_loss, list(D.parameters()))
        g_loss.backward(inputs=list(G.parameters()))
        for p, grad in zip(D.parameters(), d_grads, strict=True):
            p.grad = grad
        opt.step()
    return (time.process_time() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--pacgan-steps", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x = sample_mixture(mixture("ring"), 100_000, seed=0)
    for pack in (1, 2):
        cfgs = [GANConfig(steps=args.steps, pack=pack, seed=s) for s in range(args.seeds)]
        start = time.process_time()
        for c in cfgs:
            GANTrainer(c).fit(x)
        alone = time.process_time() - start
        start = time.process_time()
        GANTrainer.fit_together([GANTrainer(c) for c in cfgs], x)
        together = time.process_time() - start
        print(
            f"pack {pack}: {args.seeds} seeds × {args.steps} steps: one fit per seed "
            f"{alone:.2f} s, batched {together:.2f} s, ratio {alone / together:.2f}"
        )
    per_step = pacgan_step_seconds(x, args.pacgan_steps)
    print(
        f"PacGAN's nets: {1000 * per_step:.1f} ms per step; {PACGAN_STEPS:,} steps "
        f"= {per_step * PACGAN_STEPS / 3600:.1f} h per seed on one thread"
    )


if __name__ == "__main__":
    main()
