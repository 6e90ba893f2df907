"""Tiny random Llama models for the tests: one builder instead of one per test file."""

from __future__ import annotations

from typing import Any

import torch

from topiclab.nn.llama import ModelArgs, Transformer

TINY: dict[str, Any] = {
    "dim": 32,
    "n_layers": 2,
    "n_heads": 4,
    "n_kv_heads": 2,
    "vocab_size": 64,
    "multiple_of": 8,
    "max_seq_len": 32,
}


def tiny_args(**overrides: Any) -> ModelArgs:
    return ModelArgs(**{**TINY, **overrides})


def tiny_llama(**overrides: Any) -> Transformer:
    """A seeded (0) model in eval mode; ``overrides`` change ``TINY``'s sizes."""
    torch.manual_seed(0)
    return Transformer(tiny_args(**overrides)).eval()
