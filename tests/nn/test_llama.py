"""The Llama model against closed forms: RMSNorm, RoPE, GQA, the KV cache, the causal mask, sizes.

.venv/bin/pytest tests/nn/test_llama.py -q
"""

from __future__ import annotations

import pytest
import torch
from support.llama import tiny_llama

from topiclab.nn.llama import (
    ModelArgs,
    RMSNorm,
    Transformer,
    apply_rotary_emb,
    causal_mask,
    ffn_hidden_size,
    kv_cache_bytes_per_token,
    param_count,
    precompute_freqs_cis,
    repeat_kv,
)

LLAMA2 = {
    "7B": (ModelArgs(dim=4096, n_layers=32, n_heads=32, vocab_size=32000), 11008, 6_738_415_616),
    "13B": (ModelArgs(dim=5120, n_layers=40, n_heads=40, vocab_size=32000), 13824, 13_015_864_320),
    "70B": (
        ModelArgs(
            dim=8192,
            n_layers=80,
            n_heads=64,
            n_kv_heads=8,
            vocab_size=32000,
            ffn_dim_multiplier=1.3,
            multiple_of=4096,
        ),
        28672,
        68_976_648_192,
    ),
}


def tiny(n_kv_heads: int | None = 2, **kw: object) -> Transformer:
    return tiny_llama(n_kv_heads=n_kv_heads, **kw)


@pytest.mark.parametrize("name", list(LLAMA2))
def test_published_sizes(name: str) -> None:
    args, ffn, params = LLAMA2[name]
    assert args.ffn_hidden == ffn
    assert param_count(args) == params


def test_kv_cache_bytes_and_mini_llama_size() -> None:
    assert kv_cache_bytes_per_token(LLAMA2["7B"][0]) == 524_288
    assert kv_cache_bytes_per_token(LLAMA2["70B"][0]) == 327_680
    mini = ModelArgs(dim=128, n_layers=4, n_heads=4, n_kv_heads=2, vocab_size=256, multiple_of=32)
    assert ffn_hidden_size(128, 32, None) == 352
    assert param_count(mini) == 803_968


@pytest.mark.parametrize("kv", [4, 2, 1])
def test_param_count_matches_module(kv: int) -> None:
    model = tiny(kv)
    assert param_count(model.params) == sum(p.numel() for p in model.parameters())


def test_rmsnorm_closed_form_and_unit_rms() -> None:
    torch.manual_seed(0)
    norm = RMSNorm(16, eps=1e-5)
    x = torch.randn(3, 5, 16) * 7
    out = norm(x)
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)
    torch.testing.assert_close(out, expected)
    assert (out.pow(2).mean(-1).sqrt() - 1).abs().max() < 1e-4
    # fp32 compute: a bf16 input gives the fp32 result rounded once
    ref = norm(x.bfloat16().float()).bfloat16()
    assert torch.equal(norm(x.bfloat16()), ref)


def test_rope_preserves_norm_and_identity_at_zero() -> None:
    torch.manual_seed(0)
    freqs = precompute_freqs_cis(16, 64)
    q, k = torch.randn(2, 64, 3, 16), torch.randn(2, 64, 3, 16)
    rq, rk = apply_rotary_emb(q, k, freqs)
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rk.norm(dim=-1), k.norm(dim=-1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rq[:, 0], q[:, 0])
    assert not torch.allclose(rq[:, 1:], q[:, 1:])


def test_rope_relative_position_invariance() -> None:
    torch.manual_seed(0)
    freqs = precompute_freqs_cis(16, 128)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
    dots = []
    for shift in (0, 5, 37):
        m, n = 3 + shift, 10 + shift  # same distance m - n for every shift
        rq, _ = apply_rotary_emb(q, q, freqs[m : m + 1])
        _, rk = apply_rotary_emb(k, k, freqs[n : n + 1])
        dots.append(float((rq * rk).sum()))
    assert max(dots) - min(dots) < 1e-4
    rq, _ = apply_rotary_emb(q, q, freqs[20:21])
    _, rk = apply_rotary_emb(k, k, freqs[10:11])
    assert abs(float((rq * rk).sum()) - dots[0]) > 1e-3  # another distance, another score


def test_rope_equals_explicit_rotation_matrices() -> None:
    torch.manual_seed(0)
    d, pos = 8, 7
    freqs = precompute_freqs_cis(d, 16)
    x = torch.randn(1, 1, 1, d)
    rx, _ = apply_rotary_emb(x, x, freqs[pos : pos + 1])
    theta = 10000.0 ** (-torch.arange(0, d, 2).double() / d) * pos
    expected = torch.empty(d, dtype=torch.float64)
    x0, x1 = x.double().flatten()[0::2], x.double().flatten()[1::2]
    expected[0::2] = x0 * torch.cos(theta) - x1 * torch.sin(theta)
    expected[1::2] = x0 * torch.sin(theta) + x1 * torch.cos(theta)
    torch.testing.assert_close(rx.flatten().double(), expected, atol=1e-5, rtol=1e-5)


def test_repeat_kv_is_repeat_interleave() -> None:
    x = torch.randn(2, 5, 3, 4)
    assert torch.equal(repeat_kv(x, 4), torch.repeat_interleave(x, 4, dim=2))


def test_causal_mask_with_cached_prefix() -> None:
    m = causal_mask(3, 2, torch.device("cpu"))
    assert m.shape == (3, 5)
    assert (m[:, :2] == 0).all()  # the cached prefix is visible to every new token
    assert m[0, 3] == float("-inf") and m[2, 4] == 0 and m[1, 4] == float("-inf")


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_later_tokens_leave_earlier_logits_bit_identical(use_sdpa: bool) -> None:
    model = tiny(use_sdpa=use_sdpa)
    torch.manual_seed(1)
    x = torch.randint(0, 64, (2, 20))
    y = x.clone()
    y[:, 12:] = torch.randint(0, 64, (2, 8))
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.equal(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


@pytest.mark.parametrize("kv", [4, 2, 1])
@pytest.mark.parametrize("use_sdpa", [True, False])
def test_cached_decoding_equals_full_forward(kv: int, use_sdpa: bool) -> None:
    model = tiny(kv, use_sdpa=use_sdpa)
    torch.manual_seed(2)
    x = torch.randint(0, 64, (3, 24))
    with torch.no_grad():
        full = model(x)
        model.setup_cache(batch_size=3)
        # a prefix chunk, single tokens, then a chunk after a cached prefix (explicit mask)
        parts = [model(x[:, :6], 0)] + [model(x[:, i : i + 1], i) for i in range(6, 16)]
        parts.append(model(x[:, 16:], 16))
        model.clear_cache()
    assert (torch.cat(parts, 1) - full).abs().max() <= 1e-5


def test_sdpa_equals_eager_attention() -> None:
    a, b = tiny(use_sdpa=True), tiny(use_sdpa=False)
    x = torch.randint(0, 64, (2, 16))
    with torch.no_grad():
        assert (a(x) - b(x)).abs().max() <= 1e-5


def test_mha_config_has_no_grouping() -> None:
    model = tiny(None)
    attn = model.layers[0].attention
    assert attn.n_kv_heads == attn.n_heads and attn.n_rep == 1
    assert attn.wk.weight.shape == attn.wq.weight.shape


def test_start_pos_without_cache_is_an_error() -> None:
    with pytest.raises(ValueError, match="setup_cache"):
        tiny()(torch.zeros(1, 1, dtype=torch.long), start_pos=3)


def test_last_only_and_backward() -> None:
    model = tiny().train()
    x = torch.randint(0, 64, (2, 10))
    logits = model(x)
    assert logits.shape == (2, 10, 64) and logits.dtype == torch.float32
    torch.testing.assert_close(model(x, last_only=True), logits[:, -1:])
    logits.logsumexp(-1).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_inputs_embeds_equal_the_token_path_also_with_a_cache() -> None:
    model = tiny()
    torch.manual_seed(3)
    x = torch.randint(0, 64, (2, 12))
    with torch.no_grad():
        e = model.tok_embeddings(x) * 1.0  # a fresh tensor: nothing shared with the lookup
        assert torch.equal(model(inputs_embeds=e), model(x))
        model.setup_cache(batch_size=2)
        parts = [model(inputs_embeds=e[:, :7]), model(inputs_embeds=e[:, 7:], start_pos=7)]
        model.clear_cache()
    assert (torch.cat(parts, 1) - model(x)).abs().max() <= 1e-5
    for args, kwargs in (((), {}), ((x,), {"inputs_embeds": e})):
        with pytest.raises(ValueError, match="exactly one"):
            model(*args, **kwargs)
