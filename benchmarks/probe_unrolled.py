"""Why an unrolled GAN stays collapsed: where G's samples sit, and G's unrolled gradient split
into its direct part and the part through the look-ahead D's parameters.

    python benchmarks/probe_unrolled.py --set steps=800 lr=2e-3 lr_min_frac=0.01 init=normal \
        d_layers=3 unroll=5 --seed 1 --every 50

One seed, ``GANTrainer.fit`` on the topic's ring (100,000 points, data seed 0). Every
``--every`` steps, at the point where ``fit`` builds G's loss (the look-ahead D unrolled from D
before its step), it prints:

- ``centre``, ``spread``: the norm of the mean and of the per-dimension std of the step's fakes
  (standardized units; the ring's own spread is 1.41), and PacGAN's modes / % HQ of 2,500
  samples of G at that step (z seed 10,000 + seed, as the topic);
- ``|dir|``, ``|thr|``, ``cos``: the norms of G's gradient with the look-ahead D's parameters
  held fixed (direct) and of the rest (through them), and the cosine between the two;
- ``shift``: in sample space, the norm of the summed gradient over the fakes (what moves them
  together) for the direct part and the total;
- ``contract``: in sample space, the cosine between the fakes' offsets from their mean and the
  gradient's offsets from its mean, per part: > 0 means a descent step pulls the fakes together
  (G contracts), < 0 spreads them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import torch
from probe_gan import DATA_SEED, parse_sets
from torch import Tensor
from torch.func import functional_call

from topiclab.nn.gan import GANConfig, GANTrainer
from topiclab.nn.sample_metrics import mode_metrics
from topiclab.plugins.mode_collapse.data import mixture, sample_mixture


def contraction(x: Tensor, grad: Tensor) -> float:
    """Cosine of the fakes' and the gradient's offsets from their means (> 0: contracts)."""
    dx, dg = x - x.mean(0), grad - grad.mean(0)
    return float((dx * dg).sum() / (dx.norm() * dg.norm() + 1e-30))


class SplitProbe(GANTrainer):
    """``fit`` as usual; every ``every`` steps, the split of G's unrolled gradient."""

    def __init__(self, config: GANConfig, every: int) -> None:
        super().__init__(config)
        self.every, self.step = every, 0
        self.rows: dict[int, dict[str, float]] = {}

    def _unrolled_d(
        self, opt: torch.optim.Adam, real: Tensor, fake: Tensor
    ) -> Callable[[Tensor], Tensor]:
        d_for_g = super()._unrolled_d(opt, real, fake)
        assert isinstance(d_for_g, partial)  # functional_call(D, params): the look-ahead D
        if self.step % self.every == 0:
            self.rows[self.step] = self.split(d_for_g.args[1], real[0], fake)
        self.step += 1
        return d_for_g

    def split(self, params: dict[str, Tensor], real: Tensor, fake: Tensor) -> dict[str, float]:
        assert self.G is not None and self.D is not None
        frozen = {n: p.detach() for n, p in params.items()}
        wrt = [*self.G.parameters(), fake]
        total, direct = (
            torch.autograd.grad(
                self._g_loss(partial(functional_call, self.D, p), real, fake),
                wrt,
                retain_graph=True,
            )
            for p in (params, frozen)
        )
        flat_t, flat_d = (torch.cat([g.reshape(-1) for g in gs[:-1]]) for gs in (total, direct))
        flat_th = flat_t - flat_d
        x, xt, xd = fake.detach(), total[-1], direct[-1]
        return {
            "centre": x.mean(0).norm().item(),
            "spread": x.std(0).norm().item(),
            "dir": flat_d.norm().item(),
            "thr": flat_th.norm().item(),
            "cos": float(flat_d @ flat_th / (flat_d.norm() * flat_th.norm() + 1e-30)),
            "shift_dir": xd.sum(0).norm().item(),
            "shift_tot": xt.sum(0).norm().item(),
            "con_dir": contraction(x, xd),
            "con_thr": contraction(x, xt - xd),
            "con_tot": contraction(x, xt),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", nargs="*", default=[], help="GANConfig options, key=value")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(1)
    options = parse_sets(args.set)
    config = GANConfig(**options, seed=args.seed, checkpoint_every=args.every)
    if not config.unroll:
        raise SystemExit("probe_unrolled needs unroll=k ≥ 1 (the vanilla GAN has no look-ahead)")
    mix = mixture("ring")
    x = sample_mixture(mix, 100_000, seed=DATA_SEED["ring"])
    tr = SplitProbe(config, args.every)
    start = time.process_time()
    tr.fit(x)
    cpu = time.process_time() - start
    frames = tr.checkpoint_samples(2500, seed=10_000 + args.seed)
    print(f"ring, seed {args.seed}: {options}")
    for step, r in tr.rows.items():
        # The checkpoint after `step` updates is G's state at this row (step 0: G's init).
        m = mode_metrics(frames[step], mix.means, mix.std) if step in frames else None
        metric = f"modes {m['modes']:.0f} HQ {100 * m['hq_frac']:5.1f}" if m else "modes - HQ   -"
        print(
            f"{step:5d} centre {r['centre']:.3f} spread {r['spread']:.4f} {metric} | "
            f"|dir| {r['dir']:.2e} |thr| {r['thr']:.2e} cos {r['cos']:+.2f} | "
            f"shift dir {r['shift_dir']:.2e} tot {r['shift_tot']:.2e} | "
            f"contract dir {r['con_dir']:+.2f} thr {r['con_thr']:+.2f} tot {r['con_tot']:+.2f}"
        )
    print(f"fit CPU {cpu:.1f} s (with the probes)")


if __name__ == "__main__":
    main()
