"""The language-model world: the llama topic's byte-level Shakespeare model as the SFT policy,
a programmatic gold reward on the continuation's characters, and a Llama reward model.

    from topiclab.plugins.rl_llm.lm import load_sft, gold_reward, LlamaScalar, sampler
    sft = load_sft(path)                              # frozen, float32, eval mode
    seqs = sampler(new_tokens=16)(policy, prompts, generator)   # shared KV-cache generation
    r = gold_reward(seqs, prompt_len)                 # [B]: vowels − penalty · doubled letters

Generation is ``topiclab.nn.llama_generate.generate`` (KV cache) at temperature 1 with no
top-p cut, so samples come from π itself (the KL and DPO's assumptions are about π, not a
truncated π).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from topiclab.core.errors import TopiclabError
from topiclab.nn.llama import Transformer
from topiclab.nn.llama_generate import generate

VOWELS = frozenset(b"aeiouAEIOU")
REPEAT_PENALTY = 1.0


def load_sft(path: str | Path) -> Transformer:
    """The llama topic's ``torch.save``d model; byte-level (vocabulary 256) only."""
    model = torch.load(path, map_location="cpu", weights_only=False)
    if getattr(model, "vocab_size", None) != 256:
        raise TopiclabError(
            f"{path}: rl-llm needs the llama topic's byte-level model (vocabulary 256), "
            f"got {getattr(model, 'vocab_size', '?')}: run with llama:tokenizer.kind=byte"
        )
    return model.float().eval().requires_grad_(False)


def text_reward(response: bytes) -> float:
    """Vowels in the response, minus ``REPEAT_PENALTY`` per letter equal to the one before it
    (so "eeee" is not the answer): a known truth the SFT model's samples vary in."""
    vowels = sum(b in VOWELS for b in response)
    doubles = sum(a == b and chr(a).isalpha() for a, b in itertools.pairwise(response))
    return vowels - REPEAT_PENALTY * doubles


def gold_reward(seqs: Tensor, prompt_len: int) -> Tensor:
    return torch.tensor([text_reward(bytes(row[prompt_len:].tolist())) for row in seqs])


def decode(row: Tensor) -> str:
    return bytes(int(i) for i in row.tolist()).decode("utf-8", errors="replace")


class LlamaScalar(nn.Module):
    """A scalar per position from a copy of a Llama: the LM head replaced by a zero-initialised
    ``dim → 1`` head (reward models and critics start from the SFT model, as in InstructGPT)."""

    def __init__(self, base: Transformer) -> None:
        super().__init__()
        self.body = copy.deepcopy(base).requires_grad_(True).train()
        self.body.output = nn.Linear(base.params.dim, 1, bias=True)
        nn.init.zeros_(self.body.output.weight)
        nn.init.zeros_(self.body.output.bias)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.body(tokens).squeeze(-1)


def trainable_copy(model: Transformer) -> Transformer:
    return copy.deepcopy(model).requires_grad_(True).train()


def sampler(new_tokens: int) -> Callable[[nn.Module, Tensor, torch.Generator], Tensor]:
    """``sample(policy, prompts [B, P], generator) -> [B, P + new_tokens]`` at temperature 1."""

    def sample(policy: nn.Module, prompts: Tensor, g: torch.Generator) -> Tensor:
        outs = generate(
            policy,  # type: ignore[arg-type]
            prompts.tolist(),
            new_tokens,
            temperature=1.0,
            top_p=1.0,
            generator=g,
        )
        return torch.cat([prompts, torch.tensor(outs, dtype=torch.long)], 1)

    return sample


def prompt_windows(text: str, n: int, prompt_len: int, new_tokens: int, seed: int) -> Tensor:
    """``n`` distinct windows of ``prompt_len + new_tokens`` bytes that start a word: the prompt
    and the text's own continuation (SLiC-HF's SFT target)."""
    data = text.encode("ascii", errors="ignore")
    span = prompt_len + new_tokens
    starts = [i + 1 for i in range(len(data) - span - 1) if data[i] in b" \n" and data[i + 1] != 32]
    g = torch.Generator().manual_seed(seed)
    if len(starts) < n:
        raise TopiclabError(
            f"the held-out text has {len(starts)} windows, {n} asked for "
            "(lm.n_pairs + lm.n_test_pairs + lm.n_eval)"
        )
    pick = torch.randperm(len(starts), generator=g)[:n].tolist()
    return torch.tensor([list(data[starts[i] : starts[i] + span]) for i in pick], dtype=torch.long)
