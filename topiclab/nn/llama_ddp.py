"""Data-parallel training of the Llama trainer under ``torchrun`` (gloo on CPU, NCCL on GPUs).

    # by hand: options as JSON (LlamaTrainerConfig fields), token ids as .npy files
    torchrun --standalone --nproc_per_node 2 -m topiclab.nn.llama_ddp \\
        --options opts.json --train train.npy --val val.npy --out run/

    # from Python (the llama topic's train stage with ``train.processes = 2``)
    history, model_path = train_data_parallel(options, "train.npy", "val.npy", "run/", 2)

The global batch is ``batch_size`` whatever the number of processes: each rank trains on its
slice and DDP averages the gradients (see ``llama_trainer``). Rank 0 alone writes: the
checkpoints, ``history.json``, ``llama.pt``, and one JSON line per step on stdout for the
caller's progress bar. The other ranks write and log nothing, and none of them touches MLflow:
the process that launched ``torchrun`` (the pipeline, which owns the MLflow run) reads rank
0's files and logs them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HISTORY = "history.json"
MODEL = "llama.pt"


def _backend() -> str:
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


def main(argv: list[str] | None = None) -> int:
    """One rank of a ``torchrun`` job (RANK, WORLD_SIZE, MASTER_ADDR set by torchrun)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--options", "--train", "--val", "--out"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    import torch.distributed as dist

    from topiclab.nn.llama_trainer import LlamaTrainer, LlamaTrainerConfig

    dist.init_process_group(_backend())
    try:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        options = json.loads(Path(args.options).read_text())
        trainer = LlamaTrainer(LlamaTrainerConfig(**options))
        out = Path(args.out)

        def report(step: int, **metrics: float) -> None:
            if trainer.is_main:
                print(json.dumps({"step": step, **metrics}), flush=True)

        history = trainer.fit(np.load(args.train), np.load(args.val), progress=report)
        if trainer.is_main:
            out.mkdir(parents=True, exist_ok=True)
            (out / HISTORY).write_text(json.dumps(history))
            trainer.save_model(out / MODEL)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


def torchrun_command(nproc: int, args: list[str]) -> list[str]:
    """``torchrun --standalone`` as ``python -m``: the interpreter (and venv) of this process."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "topiclab.nn.llama_ddp",
        *args,
    ]


def train_data_parallel(
    options: dict[str, Any],
    train_ids: str | Path,
    val_ids: str | Path,
    out: str | Path,
    nproc: int,
    progress: Callable[..., None] | None = None,
) -> tuple[list[dict[str, float]], Path]:
    """Run ``nproc`` ranks under torchrun and wait; rank 0's history and model file."""
    batch = int(options.get("batch_size", 16))
    if nproc < 1 or batch % nproc:
        raise ValueError(f"batch_size ({batch}) must divide evenly over {nproc} processes")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    opts = out / "options.json"
    opts.write_text(json.dumps(options))
    files = {"--options": opts, "--train": train_ids, "--val": val_ids, "--out": out}
    cmd = torchrun_command(nproc, [str(x) for pair in files.items() for x in pair])
    log = out / "torchrun.log"
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:  # rank 0's steps, as they happen
            if progress is not None and line.startswith("{"):
                step = json.loads(line)
                progress(int(step.pop("step")), **step)
        code = proc.wait()
    if code != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"torchrun with {nproc} processes exited with {code}:\n{tail}")
    return json.loads((out / HISTORY).read_text()), out / MODEL


if __name__ == "__main__":
    sys.exit(main())
