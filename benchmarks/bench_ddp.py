"""Seconds per training step of the standard mini Llama: one process against torchrun + DDP.

    .venv/bin/python benchmarks/bench_ddp.py            # 1 process, then 2 ranks (gloo)
    .venv/bin/python benchmarks/bench_ddp.py --steps 40 --nproc 2

Same model (the llama topic's standard shape: dim 128, 4 layers, seq 128), same global batch
(16 windows), same seed, through ``LlamaTrainer.fit``; the step time is the median of the
trainer's own per-step timing (``tokens_per_s``) after the warm-up steps. The single process
runs with 1 torch thread and with torch's default (all cores); each DDP rank gets 1 thread
(torchrun's default). The last losses of the runs are printed to show they train the same.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topiclab.nn.llama_ddp import train_data_parallel
from topiclab.nn.llama_trainer import LlamaTrainer, LlamaTrainerConfig

WARMUP = 5


def options(steps: int) -> dict[str, Any]:
    return {
        "dim": 128,
        "n_layers": 4,
        "n_heads": 4,
        "n_kv_heads": 2,
        "vocab_size": 256,
        "multiple_of": 32,
        "seq_len": 128,
        "steps": steps,
        "batch_size": 16,
        "warmup_steps": 5,
        "eval_batches": 1,
        "seed": 0,
        "device": "cpu",
    }


def seconds_per_step(history: list[dict[str, float]], tokens_per_step: int) -> float:
    rates = [h["tokens_per_s"] for h in history[WARMUP:]]
    return float(tokens_per_step / np.median(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--nproc", type=int, default=2)
    args = parser.parse_args()
    opts = options(args.steps)
    tokens_per_step = 16 * 128
    ids = np.random.default_rng(0).integers(0, 256, 200_000)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        train, val = Path(tmp, "train.npy"), Path(tmp, "val.npy")
        np.save(train, ids[:190_000])
        np.save(val, ids[190_000:])
        for threads in (1, torch.get_num_threads()):
            torch.set_num_threads(threads)
            history = LlamaTrainer(LlamaTrainerConfig(**opts)).fit(np.load(train), np.load(val))
            label = f"1 process, {threads} thread{'s' if threads > 1 else ''}"
            rows.append((label, seconds_per_step(history, tokens_per_step), history[-1]["loss"]))
        history, _ = train_data_parallel(opts, train, val, Path(tmp, "ddp"), args.nproc)
        label = f"torchrun {args.nproc} processes (gloo), 1 thread each"
        rows.append((label, seconds_per_step(history, tokens_per_step), history[-1]["loss"]))
    base = rows[0][1]
    print(f"steps {args.steps} (median over the last {args.steps - WARMUP}), global batch 16x128")
    for label, seconds, loss in rows:
        print(f"{label:45s} {seconds:.3f} s/step  x{base / seconds:.2f}  last loss {loss:.4f}")
    print(json.dumps({"load_average": os.getloadavg(), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
