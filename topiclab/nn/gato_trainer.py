"""Train Gato by imitation: the Llama trainer's recipe on masked, multi-modal token records.

    from topiclab.nn.gato_trainer import GatoTrainer, GatoTrainerConfig
    trainer = GatoTrainer(GatoTrainerConfig(steps=1000, seq_len=128))
    trainer.fit(train_seqs, val_seqs, progress=None, images=patches)   # seqs: [n, seq_len+1, 4]
    trainer.save_model("gato.pt")

Everything of ``LlamaTrainer`` is kept (AdamW 0.9/0.95, warm-up + cosine, clipping,
accumulation, checkpoints and resume, batches drawn by (seed, step)); what changes is the batch
(whole pre-built sequences of token records, mixed across tasks by the data stage) and the loss:
L = −Σ m·log p(s_l | s_<l) / Σ m with the mask m = 1 on text and action tokens only
(Reed et al. 2022, eq. 1; normalised by the mask's sum so the scale does not depend on the mix).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field

from topiclab.nn.gato import GatoModel
from topiclab.nn.gato_tokenizer import FIELDS, VOCAB_SIZE
from topiclab.nn.llama_trainer import LlamaTrainer, LlamaTrainerConfig, ProgressFn


class GatoTrainerConfig(LlamaTrainerConfig):
    vocab_size: int = VOCAB_SIZE
    patch_size: int = Field(default=4, ge=1, le=64)
    image_grid: int = Field(default=2, ge=1, le=64, description="patches per image side")
    resnet_channels: int = Field(default=8, ge=1, le=256)
    hide_continuous_actions: bool = Field(
        default=False, description="continuous action tokens enter the context without their id"
    )
    value_features: bool = Field(
        default=False, description="add w·(bin value) to a continuous token's embedding row"
    )


def masked_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over the positions where ``mask`` is 1; a masked position
    contributes exactly zero to the loss and to its gradient."""
    nll = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none"
    )
    m = mask.reshape(-1).to(nll.dtype)
    return (nll * m).sum() / m.sum().clamp_min(1.0)


class GatoTrainer(LlamaTrainer):
    """A ``LlamaTrainer`` whose model is a ``GatoModel`` and whose batches are sequences."""

    config: GatoTrainerConfig

    def __init__(self, config: GatoTrainerConfig | None = None, **overrides: Any) -> None:
        super().__init__(config or GatoTrainerConfig(), **overrides)
        cfg = self.config
        torch.manual_seed(cfg.seed + 1)
        llama = self.model
        self.model = GatoModel(  # type: ignore[assignment]
            llama,
            cfg.patch_size,
            cfg.image_grid,
            cfg.resnet_channels,
            cfg.hide_continuous_actions,
            cfg.value_features,
        )
        self.model.to(self.device)
        self.optimizer = self._make_optimizer()

    @property
    def gato(self) -> GatoModel:
        return self.model  # type: ignore[return-value]

    def fit(  # type: ignore[override]
        self,
        train_tokens: Any,
        val_tokens: Any | None = None,
        progress: ProgressFn | None = None,
        images: Any | None = None,
    ) -> list[dict[str, float]]:
        """As ``LlamaTrainer.fit``; ``images`` is the patch table the sequences refer to."""
        if images is not None:
            self.gato.set_images(torch.as_tensor(images))
        return super().fit(train_tokens, val_tokens, progress)

    def batch(
        self, data: torch.Tensor, step: int, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` whole sequences drawn by (seed, step); x = id, local, patch of
        positions 0..n-1, y = id and mask of positions 1..n."""
        seqs = data.view(-1, self.config.seq_len + 1, FIELDS)
        g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + step)
        rows = seqs[torch.randint(0, len(seqs), (batch_size,), generator=g)].to(self.device)
        return rows[:, :-1, :3], rows[:, 1:, [0, 3]]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            logits = self.model(x)
        return masked_loss(logits, y[..., 0], y[..., 1])
