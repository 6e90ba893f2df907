"""Text generation as in Meta's ``generation.py``: batched prompts, KV cache, top-p sampling.

    from topiclab.nn.llama_generate import generate
    out = generate(model, [tok.encode("ROMEO."), tok.encode("To be")], max_gen_len=100,
                   temperature=0.6, top_p=0.9, eos_id=tok.eos_id)      # completions, no prompts

Prompts of different lengths are right-padded into one [batch, total_len] tensor. Decoding
starts at the shortest prompt's length; at every position a row whose prompt is still running
keeps its prompt token, the others take the sampled one, so no pad is ever fed to the model.
With the cache (the default) each step feeds only the new tokens at ``start_pos``; without it,
each step re-runs the whole prefix (the slow path the KV cache exists to avoid).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from topiclab.nn.llama import Transformer


def sample_top_p(
    probs: torch.Tensor, p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Nucleus sampling: keep the most likely tokens whose cumulative mass reaches ``p``.

    A token is dropped when the mass *before* it already exceeds p, so the most likely token
    always survives and p -> 0 is greedy decoding. Returns ids [batch, 1].
    """
    probs_sort, probs_idx = torch.sort(probs, dim=-1, descending=True)
    probs_sum = torch.cumsum(probs_sort, dim=-1)
    probs_sort = probs_sort.masked_fill(probs_sum - probs_sort > p, 0.0)
    probs_sort = probs_sort / probs_sort.sum(dim=-1, keepdim=True)
    next_token = torch.multinomial(probs_sort, num_samples=1, generator=generator)
    return torch.gather(probs_idx, -1, next_token)


def next_token(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One id per row from last-position logits [batch, vocab]; temperature 0 is argmax."""
    if temperature > 0:
        probs = torch.softmax(logits / temperature, dim=-1)
        return sample_top_p(probs, top_p, generator).reshape(-1)
    return torch.argmax(logits, dim=-1)


@torch.inference_mode()
def generate(
    model: Transformer,
    prompt_tokens: Sequence[Sequence[int]],
    max_gen_len: int,
    temperature: float = 0.6,
    top_p: float = 0.9,
    eos_id: int = -1,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Complete every prompt by up to ``max_gen_len`` tokens; stop a row at ``eos_id``.

    Defaults are Llama 2's (temperature 0.6, top-p 0.9). Returns the completions without the
    prompts, each cut before its first EOS.
    """
    bsz = len(prompt_tokens)
    if bsz == 0:
        return []
    min_len = min(len(t) for t in prompt_tokens)
    max_len = max(len(t) for t in prompt_tokens)
    if min_len == 0:
        raise ValueError("every prompt needs at least one token")
    max_seq = model.params.max_seq_len
    if max_len > max_seq:
        raise ValueError(f"a prompt of {max_len} tokens exceeds max_seq_len={max_seq}")
    total_len = min(max_seq, max_gen_len + max_len)
    device = model.output.weight.device
    pad = -1
    tokens = torch.full((bsz, total_len), pad, dtype=torch.long, device=device)
    for k, t in enumerate(prompt_tokens):
        tokens[k, : len(t)] = torch.tensor(list(t), dtype=torch.long, device=device)
    is_prompt = tokens != pad
    eos_reached = torch.zeros(bsz, dtype=torch.bool, device=device)

    was_training = model.training
    model.eval()
    if use_cache:
        model.setup_cache(bsz, total_len)
    try:
        prev_pos = 0
        for cur_pos in range(min_len, total_len):
            if use_cache:
                logits = model(tokens[:, prev_pos:cur_pos], start_pos=prev_pos, last_only=True)
            else:
                logits = model(tokens[:, :cur_pos], last_only=True)
            nxt = next_token(logits[:, -1], temperature, top_p, generator)
            nxt = torch.where(is_prompt[:, cur_pos], tokens[:, cur_pos], nxt)
            tokens[:, cur_pos] = nxt
            eos_reached |= ~is_prompt[:, cur_pos] & (nxt == eos_id)
            prev_pos = cur_pos
            if bool(eos_reached.all()):
                break
    finally:
        if use_cache:  # the cache is sized for this call only
            model.clear_cache()
        model.train(was_training)

    out: list[list[int]] = []
    for k, t in enumerate(prompt_tokens):
        row = tokens[k, len(t) : len(t) + max_gen_len].tolist()
        row = [i for i in row if i != pad]
        if eos_id in row:
            row = row[: row.index(eos_id)]
        out.append(row)
    return out
