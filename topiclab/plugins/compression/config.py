"""The compression topic's config. Defaults are the ``standard`` profile (2 CPU cores).

    topiclab run compression --profile quick --set chunk_size=1024

The model is not configured here: it is the ``llama`` topic's (same profile) through the DAG.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator

from topiclab.core.config import ExecutionOption
from topiclab.core.topic import Distinct, FieldError, TopicConfig
from topiclab.nn.shakespeare import play_names

# Held out from the llama topic's training (its VAL_PLAYS); the data stage checks that each is
# in the llama topic's validation text, so the LM never saw them.
PLAYS = ["hamlet", "tempest", "twelfth_night"]
MAX_ORDER = 5  # the order-k context models the evaluate stage knows (compressors.by_name)


class CompressionConfig(TopicConfig):
    model_config = ConfigDict(strict=True)

    plays: Annotated[list[str], Distinct] = Field(
        default_factory=lambda: list(PLAYS), min_length=1, max_length=40
    )
    max_bytes: int = Field(
        default=0, ge=0, le=100_000_000, description="bytes per play from its middle; 0: all"
    )
    chunk_size: int = Field(default=2048, ge=16, le=1 << 20, description="Delétang et al.: 2048")
    orders: Annotated[list[Annotated[int, Field(ge=0, le=MAX_ORDER)]], Distinct] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4, 5], max_length=6, description="order-k models"
    )
    threads: int = Field(default=1, ge=1, le=256, description="torch threads (in the header)")
    online_steps: int = Field(
        default=40, ge=0, le=10_000, description="online mode: AdamW steps after each block"
    )
    # An execution option: the rows do not depend on it (tests/plugins/compression/
    # test_evaluate.py), so changing it reuses the cached stages.
    workers: Annotated[int, ExecutionOption()] = Field(
        default=2,
        ge=1,
        le=64,
        description="processes the evaluate stage's measurements run in (1: this process)",
    )
    modal_bytes: int = Field(
        default=16_384, ge=0, le=10_000_000, description="bytes of each non-text stream; 0: none"
    )

    @field_validator("plays")
    @classmethod
    def _shipped(cls, plays: list[str]) -> list[str]:
        # By name against the package's files (nothing read); without the package the data
        # stage says so. Whether each play is held out from the llama topic's training depends
        # on that topic's config: the data stage checks it too.
        shipped = play_names()
        unknown = [p for p in plays if p not in shipped]
        if shipped and unknown:
            raise ValueError(f"unknown plays {unknown}; choose from: {', '.join(shipped)}")
        return plays


def check_llama(cfg: CompressionConfig, llama: Mapping[str, Any]) -> None:
    """The llama topic's config (JSON), before it trains for this topic: a byte-level model
    (only that codes arbitrary bytes) that never saw the plays compressed here. ``lm.load_model``
    and ``data.generate`` check the trained model and its held-out text again."""
    kind = llama["tokenizer"]["kind"]
    if kind != "byte":
        raise FieldError(
            "llama:tokenizer.kind",
            f"compression needs the llama topic's byte-level model (vocabulary 256); got {kind!r}",
        )
    data = llama["data"]
    if data["source"] != "shakespeare":
        raise FieldError(
            "llama:data.source", f"compression codes plays the llama topic held out from "
            f"its Shakespeare training; got {data['source']!r}"
        )  # fmt: skip
    seen = [p for p in cfg.plays if p not in data["val_plays"]]
    if seen:
        raise FieldError(
            "plays", f"{seen} are in the llama topic's training text (not among "
            f"llama:data.val_plays {data['val_plays']})"
        )  # fmt: skip


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "workers": 1,
        "max_bytes": 3_000,
        "orders": [0, 2],
        "online_steps": 5,
        "modal_bytes": 2_048,
    },
    "full": {"threads": 2},
}
