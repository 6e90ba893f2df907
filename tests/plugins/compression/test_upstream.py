"""The compression topic's model comes from the llama topic: a model it cannot use names the
llama option to change (a tester's find: `--set llama:tokenizer.kind=sentencepiece`).

PYTHONPATH=$PWD .venv/bin/pytest tests/plugins/compression/test_upstream.py -q
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from topiclab.nn.llama import ModelArgs, Transformer
from topiclab.plugins.compression.container import FormatError
from topiclab.plugins.compression.lm import load_model


def test_a_subword_llama_model_names_the_option_to_change(tmp_path: Path) -> None:
    args = ModelArgs(dim=16, n_layers=1, n_heads=2, vocab_size=512, multiple_of=8)
    torch.save(Transformer(args), tmp_path / "llama.pt")
    with pytest.raises(FormatError) as info:
        load_model(tmp_path / "llama.pt")
    text = str(info.value)
    assert "this one has 512" in text and "llama:tokenizer.kind=byte" in text, text
    assert "\n" not in text
