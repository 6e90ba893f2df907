"""The Llama trainer: schedule, learning, gradient accumulation, checkpoint resume.

.venv/bin/pytest tests/nn/test_llama_trainer.py -q
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from topiclab.nn.llama_trainer import LlamaTrainer, LlamaTrainerConfig, lr_at

SMALL = {
    "dim": 32,
    "n_layers": 2,
    "n_heads": 4,
    "n_kv_heads": 2,
    "multiple_of": 8,
    "seq_len": 16,
    "batch_size": 8,
    "warmup_steps": 5,
    "vocab_size": 256,
}


def corpus() -> np.ndarray:
    text = "the quick brown fox jumps over the lazy dog. " * 60
    return np.frombuffer(text.encode(), dtype=np.uint8)


def test_cosine_schedule_with_warmup() -> None:
    cfg = LlamaTrainerConfig(steps=100, warmup_steps=10, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(55, cfg) == pytest.approx(1e-4 + 0.5 * 9e-4 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(100, cfg) == pytest.approx(1e-4)


def test_optimizer_follows_llama2() -> None:
    t = LlamaTrainer(LlamaTrainerConfig(**SMALL))
    decay, no_decay = t.optimizer.param_groups
    assert t.optimizer.defaults["betas"] == (0.9, 0.95) and t.optimizer.defaults["eps"] == 1e-5
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 1 for p in no_decay["params"])  # the RMSNorm gains


def test_fit_learns_and_reports_progress() -> None:
    data = corpus()
    t = LlamaTrainer(LlamaTrainerConfig(**SMALL, steps=60, lr=3e-3))
    seen: list[tuple[int, dict[str, float]]] = []
    history = t.fit(data, data, progress=lambda step, **m: seen.append((step, m)))
    assert [s for s, _ in seen] == list(range(60))
    assert {"loss", "lr", "grad_norm", "tokens_per_s"} <= set(seen[0][1])
    assert history[0]["loss"] > 5.0  # ~ln 256 at the start
    assert history[-1]["val_loss"] < 2.0  # a repetitive text is learnt quickly


def test_gradient_accumulation_equals_the_big_batch() -> None:
    data = torch.from_numpy(corpus().astype(np.int64))
    cfg = LlamaTrainerConfig(**SMALL, steps=1)
    a, b = LlamaTrainer(cfg), LlamaTrainer(cfg, grad_accum=2, batch_size=4)
    x0, y0 = b.batch(data, 0, 4)
    x1, y1 = b.batch(data, 1, 4)
    big = a.loss(torch.cat([x0, x1]), torch.cat([y0, y1]))
    big.backward()
    b.train_step(data)
    # both start from the same weights; b took one step with the accumulated gradient
    grads = [p.grad.clone() for p in a.model.parameters()]  # type: ignore[union-attr]
    a.optimizer.zero_grad()
    a.model.zero_grad()
    for p, g in zip(a.model.parameters(), grads, strict=True):
        p.grad = g
    torch.nn.utils.clip_grad_norm_(a.model.parameters(), 1.0)
    for group in a.optimizer.param_groups:
        group["lr"] = lr_at(0, cfg)
    a.optimizer.step()
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)


def test_checkpoint_resume_equals_an_unbroken_run(tmp_path: Path) -> None:
    data = corpus()
    full = LlamaTrainer(LlamaTrainerConfig(**SMALL, steps=12))
    full.fit(data)
    ckpt = str(tmp_path / "ckpt")
    cfg = LlamaTrainerConfig(**SMALL, steps=12, checkpoint_dir=ckpt, checkpoint_every=1)

    def kill_at_7(step: int, **metrics: float) -> None:
        if step == 7:  # after the update of step 7, before its checkpoint: the run dies
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        LlamaTrainer(cfg).fit(data, progress=kill_at_7)
    assert (tmp_path / "ckpt" / "checkpoint.pt").exists()
    resumed = LlamaTrainer(cfg)
    history = resumed.fit(data)
    assert resumed.step == 12 and len(history) == 12
    for p, q in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    other = LlamaTrainer(LlamaTrainerConfig(**{**SMALL, "dim": 64}, steps=12, checkpoint_dir=ckpt))
    with pytest.raises(ValueError, match="other model sizes"):
        other.fit(data)


def test_save_model_is_a_loadable_module(tmp_path: Path) -> None:
    t = LlamaTrainer(LlamaTrainerConfig(**SMALL, steps=1))
    path = t.save_model(tmp_path / "llama.pt")
    loaded = torch.load(path, weights_only=False)
    x = torch.randint(0, 256, (1, 8))
    with torch.no_grad():
        assert torch.equal(loaded(x), t.model(x))


def test_a_damaged_checkpoint_is_trained_over_not_a_failure_on_every_rerun(tmp_path: Path) -> None:
    # A truncated checkpoint in a stage's ``train.partial`` (a bad disk, a copy cut short) made
    # every rerun of gato or llama fail in torch.load until the user found --no-cache.
    data = corpus()
    full = LlamaTrainer(LlamaTrainerConfig(**SMALL, steps=6))
    full.fit(data)
    cfg = LlamaTrainerConfig(**SMALL, steps=6, checkpoint_dir=str(tmp_path), checkpoint_every=3)
    LlamaTrainer(cfg).fit(data)
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    again = LlamaTrainer(cfg)
    with pytest.warns(UserWarning, match=r"checkpoint\.pt cannot be read .*: training from step 0"):
        history = again.fit(data)
    assert again.step == 6 and len(history) == 6
    for p, q in zip(full.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(p, q)
    torch.load(ckpt, weights_only=True)  # written whole again


def test_grad_clip_zero_is_off_not_a_zero_gradient() -> None:
    # 0 means "no clipping" for the preference, PPO and GAN trainers; clip_grad_norm_ with
    # max_norm 0 would instead zero every gradient, so the model would silently not learn.
    data = corpus()
    t = LlamaTrainer(LlamaTrainerConfig(**SMALL, steps=30, lr=3e-3, grad_clip=0.0))
    history = t.fit(data, data)
    assert history[-1]["val_loss"] < 0.8 * history[0]["loss"]
    with pytest.raises(ValueError, match="grad_clip"):
        LlamaTrainerConfig(grad_clip=-1.0)  # a negative max_norm flips the gradient
