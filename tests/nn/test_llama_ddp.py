"""Two ``torchrun`` processes (DDP, gloo) train the same model as one process does.

Same seed, same global batch (8 windows: 4 per rank), 6 steps of a tiny Llama. DDP averages
the gradients of the two halves, which is the gradient of the whole batch up to float
summation order; the loss curves agree within 1e-4 (absolute, on losses of about 4.2). Only
rank 0 writes files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.llama import TINY

from topiclab.nn.llama_ddp import train_data_parallel
from topiclab.nn.llama_trainer import LlamaTrainer, LlamaTrainerConfig

TOLERANCE = 1e-4
OPTIONS = {
    **{k: v for k, v in TINY.items() if k != "max_seq_len"},
    "seq_len": 16,
    "steps": 6,
    "batch_size": 8,
    "warmup_steps": 2,
    "lr": 1e-2,
    "eval_batches": 2,
    "seed": 5,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ids")
    rng = np.random.default_rng(0)
    # A learnable stream: a repeated random phrase with some noise.
    phrase = rng.integers(0, 64, 37)
    ids = np.tile(phrase, 60)
    ids[rng.random(ids.size) < 0.1] = rng.integers(0, 64)
    np.save(folder / "train.npy", ids[:2000])
    np.save(folder / "val.npy", ids[2000:])
    return folder / "train.npy", folder / "val.npy"


def test_two_processes_match_one_process_loss_curve(tokens, tmp_path):
    train, val = tokens
    single = LlamaTrainer(LlamaTrainerConfig(**OPTIONS)).fit(np.load(train), np.load(val))
    steps: list[int] = []
    options = {**OPTIONS, "checkpoint_dir": str(tmp_path / "ckpt"), "checkpoint_every": 3}
    history, model = train_data_parallel(
        options, train, val, tmp_path / "ddp", 2, progress=lambda step, **m: steps.append(step)
    )
    one = np.array([h["loss"] for h in single])
    two = np.array([h["loss"] for h in history])
    assert one[-1] < one[0] - 0.1  # it learns: the comparison is not between two flat lines
    np.testing.assert_allclose(two, one, atol=TOLERANCE, rtol=0)
    assert history[-1]["val_loss"] == pytest.approx(single[-1]["val_loss"], abs=TOLERANCE)
    assert steps == list(range(OPTIONS["steps"]))  # one progress line per step, from rank 0
    assert model.is_file()
    # rank 0 alone wrote: one checkpoint, one history
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["checkpoint.pt"]
    assert json.loads((tmp_path / "ddp" / "history.json").read_text()) == history


def test_a_batch_that_does_not_split_evenly_is_refused(tokens, tmp_path):
    train, val = tokens
    with pytest.raises(ValueError, match="batch_size \\(7\\) must divide evenly over 2"):
        train_data_parallel({**OPTIONS, "batch_size": 7}, train, val, tmp_path, 2)
