"""rl-llm values that passed validation and then failed mid-run (a tester's finds) are refused
in one line naming the key; the language model's context is checked before any training.

PYTHONPATH=$PWD .venv/bin/pytest tests/plugins/rl_llm/test_config.py -q
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.rl_llm import run_quick

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError, TopiclabError
from topiclab.core.registry import get_registry

REFUSED = [
    # the exact claims read claim_beta's runs: a β not swept crashed the evaluate stage
    ("exact.claim_beta=3.0", "invalid value for 'exact.claim_beta': 3.0 is not one of"),
    # ... and PPO's and DPO's runs: without them the same crash
    ("exact.methods={}", "invalid value for 'exact.methods': the exact claims need"),
    ('exact.methods={"ipo": {}, "dpo": {}}', "invalid value for 'exact.methods'"),
    # 2 prompts × 16^6 responses: every sequence is enumerated, and the policy tables alone
    # were tens of GB (the data stage ran the machine out of memory)
    ("exact.length=6\nexact.vocab=16", "invalid value for 'exact': 2 prompts × 16^6 responses"),
]


@pytest.mark.parametrize("override, message", REFUSED)
def test_a_value_the_evaluate_stage_cannot_take_is_refused(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(get_registry().topics["rl-llm"], "quick", overrides=override.split("\n"))
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text, text


@pytest.mark.parametrize(
    "override",
    [
        "exact.claim_beta=0.5",
        'exact.methods={"ppo": {}, "dpo": {}}',
        "exact.n_prompts=1\nexact.vocab=10\nexact.length=6",  # 1,000,000 sequences
    ],
)
def test_the_edges_just_inside_still_validate(override: str) -> None:
    resolve_config(get_registry().topics["rl-llm"], "quick", overrides=override.split("\n"))


@pytest.mark.parametrize(
    "override, key",
    [("lm.new_tokens=57", "lm.new_tokens"), ("lm.prompt_len=65", "lm.prompt_len")],
)
def test_a_prompt_and_response_longer_than_the_context_are_refused(
    tmp_path: Path, override: str, key: str
) -> None:
    # The upstream model reads 64 tokens: 8 + 57 used to be cut to 56 new tokens without a
    # word, and a 65-token prompt failed in generation with a message naming no option.
    with pytest.raises(TopiclabError) as info:
        run_quick(tmp_path, [override])
    text = str(info.value)
    assert key in text and "model.seq_len (64)" in text and "\n" not in text, text


def test_a_subword_llama_model_names_the_option_to_change(tmp_path: Path) -> None:
    # `--set llama:tokenizer.kind=sentencepiece` trained a 512-token model that rl-llm cannot
    # read; the error named no option. The run now refuses it before llama trains
    # (RLLLMTopic.check_upstream, tests/app/test_cli.py); a model from elsewhere is still checked.
    import torch

    from topiclab.nn.llama import ModelArgs, Transformer
    from topiclab.plugins.rl_llm.lm import load_sft

    args = ModelArgs(dim=16, n_layers=1, n_heads=2, vocab_size=512, multiple_of=8)
    torch.save(Transformer(args), tmp_path / "llama.pt")
    with pytest.raises(TopiclabError) as info:
        load_sft(tmp_path / "llama.pt")
    assert "llama:tokenizer.kind=byte" in str(info.value), info.value


def test_more_windows_than_the_held_out_text_has_names_the_options() -> None:
    from topiclab.plugins.rl_llm.lm import prompt_windows

    with pytest.raises(TopiclabError) as info:
        prompt_windows("to be or not to be " * 20, 1000, 8, 4, seed=0)
    text = str(info.value)
    assert "lm.n_pairs + lm.n_test_pairs + lm.n_eval" in text and "1000 asked for" in text, text
