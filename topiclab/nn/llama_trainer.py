"""Train a Llama language model on a stream of token ids, with Llama 2's optimiser recipe.

    from topiclab.nn.llama_trainer import LlamaTrainer, LlamaTrainerConfig
    trainer = LlamaTrainer(LlamaTrainerConfig(steps=1000, vocab_size=256))
    history = trainer.fit(train_ids, val_ids, progress=lambda step, **m: print(step, m))
    trainer.save_model("llama.pt")                  # torch.save of the nn.Module

Recipe (Touvron et al. 2023, sec. 2.2): AdamW with betas (0.9, 0.95), eps 1e-5, weight decay
0.1 (on matrices only, not on RMSNorm gains); linear warm-up then cosine decay to 10% of the
peak learning rate; gradients clipped at norm 1.0. Gradient accumulation multiplies the batch;
bf16 autocast is used on CUDA. With ``checkpoint_dir`` set, the trainer saves model, optimiser
and step every ``checkpoint_every`` steps and a later ``fit`` with the same directory resumes
where it stopped. Batches are drawn from a generator seeded by (seed, step), so a resumed run
sees exactly the batches an unbroken run would have seen.

Data-parallel: inside an initialised ``torch.distributed`` process group (``torchrun``, see
``topiclab.nn.llama_ddp``) the model is wrapped in ``DistributedDataParallel``. Every rank
draws the same global batch of ``batch_size`` windows and trains on its slice
``rows[rank::world]``; DDP averages the gradients, so a step equals the single-process step on
the whole batch (up to float summation order). Reported losses are averaged over the ranks;
only rank 0 (``is_main``) writes checkpoints.
"""

from __future__ import annotations

import math
import pickle
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from topiclab.nn.llama import ModelArgs, Transformer

ProgressFn = Callable[..., None]
CHECKPOINT = "checkpoint.pt"


class LlamaTrainerConfig(BaseModel):
    """Model shape and optimisation settings. The defaults are the topic's mini Llama."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # lr=inf trains to NaN

    # model (ModelArgs)
    dim: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = Field(default=2, description="None: multi-head attention")
    vocab_size: int = 256
    multiple_of: int = 32
    ffn_dim_multiplier: float | None = None
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    seq_len: int = Field(default=128, description="training context length (also max_seq_len)")
    # optimisation
    steps: int = 1000
    batch_size: int = 16
    grad_accum: int = Field(default=1, ge=1, description="micro-batches per optimiser step")
    lr: float = 3e-3
    min_lr_ratio: float = Field(default=0.1, description="cosine decays to this fraction of lr")
    warmup_steps: int = 50
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-5
    grad_clip: float = Field(default=1.0, ge=0, description="global grad-norm clip; 0: off")
    # bookkeeping
    eval_every: int = Field(
        default=0, description="estimate validation loss every N steps (0: end only)"
    )
    eval_batches: int = 8
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    device: str = Field(default="auto", description="auto: cuda if available, else cpu")
    bf16: bool = Field(default=True, description="bf16 autocast on CUDA (ignored on CPU)")
    seed: int = 0

    def model_args(self) -> ModelArgs:
        return ModelArgs(
            dim=self.dim,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            n_kv_heads=self.n_kv_heads,
            vocab_size=self.vocab_size,
            multiple_of=self.multiple_of,
            ffn_dim_multiplier=self.ffn_dim_multiplier,
            norm_eps=self.norm_eps,
            rope_theta=self.rope_theta,
            max_seq_len=self.seq_len,
        )


def lr_at(step: int, cfg: LlamaTrainerConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr_ratio``·lr at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


def as_tensor(tokens: Any) -> torch.Tensor:
    """1-D int64 tensor from a numpy array, a list or a tensor of token ids."""
    if isinstance(tokens, torch.Tensor):
        return tokens.reshape(-1).long()
    return torch.from_numpy(np.array(tokens, dtype=np.int64).reshape(-1))


class LlamaTrainer:
    """Owns a ``Transformer`` and its optimiser; ``fit`` trains it on token ids."""

    def __init__(self, config: LlamaTrainerConfig | None = None, **overrides: Any) -> None:
        cfg = config or LlamaTrainerConfig()
        self.config = cfg.model_copy(update=overrides) if overrides else cfg
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu")
            if self.config.device == "auto"
            else self.config.device
        )
        torch.manual_seed(self.config.seed)
        self.model = Transformer(self.config.model_args()).to(self.device)
        self.rank, self.world = _process_group()
        if self.world > 1 and self.config.batch_size % self.world:
            raise ValueError(
                f"batch_size ({self.config.batch_size}) must divide evenly over "
                f"{self.world} processes"
            )
        self._ddp: torch.nn.Module | None = None
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index or 0] if self.device.type == "cuda" else None
            # Buffers (RoPE tables) are computed alike on every rank: no need to send them.
            self._ddp = DistributedDataParallel(self.model, device_ids=ids, broadcast_buffers=False)
        self.optimizer = self._make_optimizer()
        self.step = 0
        self.history: list[dict[str, float]] = []

    @property
    def net(self) -> torch.nn.Module:
        """What the forward pass calls: the model, or DDP around it (which broadcast rank 0's
        weights when it was made and averages the gradients in backward)."""
        return self._ddp if self._ddp is not None else self.model

    @property
    def is_main(self) -> bool:
        """Rank 0, or the only process: the one that writes checkpoints and reports."""
        return self.rank == 0

    def _make_optimizer(self) -> torch.optim.AdamW:
        cfg = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)

    def _autocast(self) -> Any:
        on = self.device.type == "cuda" and self.config.bf16
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=on)

    def batch(
        self, data: torch.Tensor, step: int, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows of seq_len + 1 tokens; the draw depends only on (seed, step)."""
        n = self.config.seq_len
        if len(data) <= n + 1:
            raise ValueError(f"need more than {n + 1} tokens to train, got {len(data)}")
        g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + step)
        starts = torch.randint(0, len(data) - n - 1, (batch_size,), generator=g)
        idx = starts[:, None] + torch.arange(n + 1)[None, :]
        win = data[idx].to(self.device)
        return win[:, :-1], win[:, 1:]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            logits = self.net(x)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))

    def train_step(self, data: torch.Tensor) -> dict[str, float]:
        """One optimiser step (``grad_accum`` micro-batches); returns loss, lr, grad norm."""
        cfg = self.config
        self.model.train()
        lr = lr_at(self.step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total = 0.0
        for micro in range(cfg.grad_accum):
            x, y = self.batch(data, self.step * cfg.grad_accum + micro, cfg.batch_size)
            # This rank's slice of the global batch (all of it in a single process).
            x, y = x[self.rank :: self.world], y[self.rank :: self.world]
            loss = self.loss(x, y) / cfg.grad_accum
            loss.backward()
            total += float(loss.detach())
        if self.world > 1:  # report the global batch's loss, the same number on every rank
            mean = torch.tensor([total / self.world], dtype=torch.float64)
            dist.all_reduce(mean)
            total = float(mean)
        # 0 is "off", as in the other trainers: max_norm 0 would zero every gradient.
        clip = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return {"loss": total, "lr": lr, "grad_norm": float(norm)}

    @torch.no_grad()
    def estimate_loss(self, data: torch.Tensor, batches: int | None = None) -> float:
        """Mean loss over ``batches`` fixed random batches (the same ones every call)."""
        self.model.eval()
        n = batches or self.config.eval_batches
        losses = [
            float(self.loss(*self.batch(data, -1 - i, self.config.batch_size))) for i in range(n)
        ]
        self.model.train()
        return sum(losses) / len(losses)

    def fit(
        self, train_tokens: Any, val_tokens: Any | None = None, progress: ProgressFn | None = None
    ) -> list[dict[str, float]]:
        """Train until ``config.steps``; resume from ``checkpoint_dir`` when it holds one.

        ``progress(step, **metrics)`` is called after every step with loss, lr, grad_norm,
        tokens_per_s (and val_loss at evaluation steps). Returns the per-step history.
        """
        cfg = self.config
        train = as_tensor(train_tokens)
        val = as_tensor(val_tokens) if val_tokens is not None else None
        ckpt = Path(cfg.checkpoint_dir) / CHECKPOINT if cfg.checkpoint_dir else None
        state = read_checkpoint(ckpt, self.device) if ckpt is not None else None
        if ckpt is not None and state is not None:
            self._restore(ckpt, state)
        tokens_per_step = cfg.batch_size * cfg.grad_accum * cfg.seq_len
        while self.step < cfg.steps:
            t0 = time.perf_counter()
            metrics = self.train_step(train)
            metrics["tokens_per_s"] = tokens_per_step / max(time.perf_counter() - t0, 1e-9)
            step = self.step - 1
            last = self.step == cfg.steps
            if val is not None and ((cfg.eval_every and self.step % cfg.eval_every == 0) or last):
                metrics["val_loss"] = self.estimate_loss(val)
            self.history.append({"step": float(step), **metrics})
            if progress is not None:
                progress(step, **metrics)
            if ckpt is not None and (
                last or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0)
            ):
                if self.is_main:
                    self.save_checkpoint(ckpt)
                if self.world > 1:
                    dist.barrier()  # no rank runs ahead of a checkpoint it might resume from
        return self.history

    def save_checkpoint(self, path: str | Path) -> Path:
        """Model, optimiser, step and history: everything ``fit`` needs to resume."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "history": self.history,
            "config": self.config.model_dump(mode="json"),
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)  # atomic: a run killed mid-save leaves the previous checkpoint
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        self._restore(path, torch.load(path, map_location=self.device, weights_only=True))

    def _restore(self, path: str | Path, state: dict[str, Any]) -> None:
        saved = {k: v for k, v in state["config"].items() if k not in ("steps", "checkpoint_dir")}
        mine = self.config.model_dump(mode="json")
        changed = [k for k, v in saved.items() if mine.get(k) != v and k in _SHAPE_KEYS]
        if changed:
            raise ValueError(f"checkpoint {path} was made with other model sizes: {changed}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.history = list(state["history"])

    def save_model(self, path: str | Path) -> Path:
        """``torch.save`` of the nn.Module itself (what ``mlflow.pytorch.log_model`` takes)."""
        path = Path(path)
        self.model.clear_cache()
        torch.save(self.model, path)
        return path


def read_checkpoint(path: Path, device: torch.device | str) -> dict[str, Any] | None:
    """The checkpoint at ``path``; None if there is none, or if it cannot be read (a warning
    says so): checkpoints are written aside and renamed, so a damaged one was damaged after
    (a disk, a copy cut short), and training again from step 0 gives what an unbroken run
    would (batches are drawn by (seed, step), the initial weights by the seed)."""
    if not path.exists():
        return None
    try:
        state: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, IndexError, pickle.UnpicklingError) as err:
        warnings.warn(
            f"{path} cannot be read ({type(err).__name__}): training from step 0", stacklevel=3
        )
        return None
    return state


def _process_group() -> tuple[int, int]:
    """(rank, world size) of the initialised process group; (0, 1) outside one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


_SHAPE_KEYS = (
    "dim",
    "n_layers",
    "n_heads",
    "n_kv_heads",
    "vocab_size",
    "multiple_of",
    "ffn_dim_multiplier",
    "seq_len",
)
