"""Generation, sampling and tokenizers of the Llama stack.

.venv/bin/pytest tests/nn/test_llama_generate.py -q
"""

from __future__ import annotations

import torch
from support.llama import tiny_llama

from topiclab.nn.llama import Transformer
from topiclab.nn.llama_generate import generate, next_token, sample_top_p
from topiclab.nn.tokenizers import (
    ByteTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    load_tokenizer,
    save_tokenizer,
)


def model(n_kv_heads: int = 2) -> Transformer:
    m = tiny_llama(n_kv_heads=n_kv_heads, max_seq_len=48)
    with torch.no_grad():  # sharper logits than the 0.02 init, so sampling paths differ
        m.output.weight.mul_(50)
    return m


def test_top_p_to_zero_is_greedy() -> None:
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(64, 50) * 3, dim=-1)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample_top_p(probs, 1e-9, g).flatten(), probs.argmax(-1))


def test_top_p_frequencies_match_the_renormalised_nucleus() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    g = torch.Generator().manual_seed(0)
    draws = sample_top_p(probs.expand(20000, 4), 0.7, g).flatten()
    freq = torch.bincount(draws, minlength=4).float() / len(draws)
    # cumsum - p_i: 0, 0.5, 0.8, 0.95 -> tokens 2 and 3 are dropped; nucleus {0.5, 0.3}
    assert freq[2] == 0 and freq[3] == 0
    assert abs(freq[0] - 0.625) < 0.015 and abs(freq[1] - 0.375) < 0.015


def test_temperature_zero_is_argmax() -> None:
    logits = torch.randn(5, 64)
    assert torch.equal(next_token(logits, 0.0, 0.9), logits.argmax(-1))


def test_batched_prompts_of_different_lengths_match_single_runs() -> None:
    m = model()
    prompts = [[1, 2, 3, 4, 5, 6, 7], [9, 8], [4, 4, 4, 4]]
    batched = generate(m, prompts, max_gen_len=12, temperature=0.0)
    for p, out in zip(prompts, batched, strict=True):
        assert out == generate(m, [p], max_gen_len=12, temperature=0.0)[0]
        assert len(out) == 12


def test_cache_and_no_cache_agree() -> None:
    m = model(1)
    prompts = [[3, 1, 4, 1, 5], [9, 2, 6]]
    fast = generate(m, prompts, max_gen_len=10, temperature=0.0)
    slow = generate(m, prompts, max_gen_len=10, temperature=0.0, use_cache=False)
    assert fast == slow
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = generate(m, prompts, 10, temperature=1.0, top_p=0.9, generator=g1)
    b = generate(m, prompts, 10, temperature=1.0, top_p=0.9, generator=g2, use_cache=False)
    assert a == b
    assert not m.has_cache and not m.training


def test_generation_stops_at_eos() -> None:
    m = model()
    greedy = generate(m, [[1, 2, 3]], max_gen_len=20, temperature=0.0)[0]
    eos = greedy[4]
    cut = generate(m, [[1, 2, 3]], max_gen_len=20, temperature=0.0, eos_id=eos)[0]
    assert cut == greedy[: greedy.index(eos)]


def test_byte_tokenizer_round_trip() -> None:
    tok = ByteTokenizer()
    assert isinstance(tok, Tokenizer)
    text = "To be, or not to be: that is the question.\nÆ"
    ids = tok.encode(text)
    assert max(ids) < 256 and tok.decode(ids) == text


def test_sentencepiece_bpe_trains_offline_and_round_trips(tmp_path: object) -> None:
    lines = [
        "To be, or not to be: that is the question:",
        "Whether 'tis nobler in the mind to suffer",
        "The slings and arrows of outrageous fortune,",
    ] * 40
    tok = SentencePieceTokenizer.train(lines, vocab_size=300)
    assert isinstance(tok, Tokenizer)
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (1, 2, -1)
    assert tok.vocab_size == 300
    text = "To be, or not to be\nZebra 42 ~"  # unseen characters go through byte fallback
    ids = tok.encode(text, bos=True, eos=True)
    assert ids[0] == 1 and ids[-1] == 2
    assert len(ids) < len(text)
    assert tok.decode(ids[1:-1]) == text
    from pathlib import Path

    path = save_tokenizer(tok, Path(str(tmp_path)) / "tok.json")
    again = load_tokenizer(path)
    assert again.encode(text) == tok.encode(text)


def test_a_model_that_generated_first_can_still_train() -> None:
    m = model()
    generate(m, [[1, 2, 3]], max_gen_len=4, temperature=0.0)  # RoPE table built here
    m.train()
    m(torch.randint(0, 64, (2, 8))).logsumexp(-1).mean().backward()
    assert m.output.weight.grad is not None
