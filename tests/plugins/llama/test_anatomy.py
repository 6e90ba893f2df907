"""The anatomy table names the attention type of the run's shape, as the KV-memory table does."""

from __future__ import annotations

import pytest

from topiclab.nn.llama import ModelArgs
from topiclab.plugins.llama.evaluate import anatomy_rows


@pytest.mark.parametrize(("kv", "kind"), [(4, "MHA"), (2, "GQA"), (1, "MQA")])
def test_the_kv_row_names_the_attention_type(kv: int, kind: str) -> None:
    args = ModelArgs(dim=64, n_layers=1, n_heads=4, n_kv_heads=kv, vocab_size=256, multiple_of=16)
    note = next(r["note"] for r in anatomy_rows(args, 2) if r["component"] == "wk, wv")
    assert note.endswith(f"({kind})"), note
