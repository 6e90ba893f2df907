"""Our Llama against Hugging Face ``LlamaForCausalLM`` on identical random weights (no downloads).

.venv/bin/pytest tests/nn/test_llama_hf.py -q
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from support.llama import tiny_args, tiny_llama

from topiclab.nn.llama import ModelArgs
from topiclab.nn.llama_hf import (
    args_from_hf_config,
    from_hf,
    hf_config,
    hf_state_dict_from_meta,
    hf_to_meta_rows,
    load_hf_checkpoint,
    meta_state_dict_from_hf,
    meta_to_hf_rows,
    to_hf,
)

transformers = pytest.importorskip("transformers")


def hf_model(n_kv_heads: int) -> torch.nn.Module:
    """The reference page's recipe: vocab 128, d 64, FFN 172, 2 layers, 8 heads."""
    cfg = transformers.LlamaConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=172,
        num_hidden_layers=2,
        num_attention_heads=8,
        num_key_value_heads=n_kv_heads,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize("n_kv_heads", [8, 4, 1], ids=["MHA", "GQA", "MQA"])
def test_logits_equal_hf(n_kv_heads: int) -> None:
    hf = hf_model(n_kv_heads)
    ours = from_hf(hf).eval()
    assert ours.params.ffn_hidden == 172 and ours.params.kv_heads == n_kv_heads
    x = torch.randint(0, 128, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (ours(x) - hf(x).logits).abs().max().item()
        # cached incremental decoding against HF's own cache
        ours.setup_cache(batch_size=2)
        out = hf(x[:, :30], use_cache=True)
        steps = [ours(x[:, :30], 0)[:, -1]]
        hf_steps = [out.logits[:, -1]]
        cache = out.cache if hasattr(out, "cache") else out.past_key_values
        for i in range(30, 40):
            steps.append(ours(x[:, i : i + 1], i)[:, -1])
            out = hf(x[:, i : i + 1], cache=cache, use_cache=True)
            cache = out.cache if hasattr(out, "cache") else out.past_key_values
            hf_steps.append(out.logits[:, -1])
    assert diff <= 1e-5
    assert (torch.stack(steps) - torch.stack(hf_steps)).abs().max().item() <= 1e-5


def test_without_permutation_only_position_zero_agrees() -> None:
    """The diagnostic of the reference page: RoPE is the identity at position 0 only."""
    hf = hf_model(4)
    ours = from_hf(hf).eval()
    sd = ours.state_dict()
    for i in range(ours.params.n_layers):  # undo the permutation on purpose
        for name, heads in (("wq", 8), ("wk", 4)):
            key = f"layers.{i}.attention.{name}.weight"
            sd[key] = meta_to_hf_rows(sd[key], heads)
    ours.load_state_dict(sd)
    x = torch.randint(0, 128, (1, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        diff = (ours(x) - hf(x).logits).abs().amax(-1)[0]
    assert diff[0] <= 1e-5 and diff[1:].min() > 1e-4


def test_permutations_are_inverse() -> None:
    w = torch.randn(4 * 16, 32)
    assert torch.equal(hf_to_meta_rows(meta_to_hf_rows(w, 4), 4), w)
    assert not torch.equal(hf_to_meta_rows(w, 4), w)


@pytest.mark.parametrize("n_kv_heads", [None, 2, 1])
def test_round_trip_of_weight_conversion(n_kv_heads: int | None) -> None:
    args = tiny_args(dim=64, n_kv_heads=n_kv_heads, vocab_size=96, multiple_of=16)
    ours = tiny_llama(dim=64, n_kv_heads=n_kv_heads, vocab_size=96, multiple_of=16)
    sd = ours.state_dict()
    back = meta_state_dict_from_hf(hf_state_dict_from_meta(sd, args), args)
    assert sd.keys() == back.keys() and all(torch.equal(sd[k], back[k]) for k in sd)
    hf = to_hf(ours)
    back_args = args_from_hf_config(hf.config, max_seq_len=32)
    # HF stores the FFN size itself, not Meta's rounding rule: compare what the rule gives
    assert back_args.ffn_hidden == args.ffn_hidden
    assert replace(back_args, multiple_of=args.multiple_of, n_kv_heads=args.n_kv_heads) == args
    assert back_args.kv_heads == args.kv_heads
    x = torch.randint(0, 96, (2, 20))
    with torch.no_grad():
        assert (ours(x) - hf(x).logits).abs().max() <= 1e-5
        again = from_hf(hf, max_seq_len=32)
        assert torch.equal(again(x), ours(x))


def test_config_with_multiplier_round_trips() -> None:
    args = ModelArgs(
        dim=64, n_layers=1, n_heads=4, vocab_size=32, multiple_of=64, ffn_dim_multiplier=1.3
    )
    back = args_from_hf_config(hf_config(args))
    assert back.ffn_hidden == args.ffn_hidden == 256


def test_load_hf_checkpoint_directory(tmp_path: Path) -> None:
    """A checkpoint saved by ``save_pretrained`` loads from disk, nothing else needed."""
    hf = hf_model(4)
    hf.save_pretrained(tmp_path)
    ours = load_hf_checkpoint(tmp_path)
    x = torch.randint(0, 128, (2, 16))
    with torch.no_grad():
        assert (ours(x) - hf(x).logits).abs().max() <= 1e-5
    with pytest.raises(FileNotFoundError):
        load_hf_checkpoint(tmp_path / "missing")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attention_bias": True}, "attention_bias=true: Llama 2 has no attention biases"),
        ({"mlp_bias": True}, "mlp_bias=true: Llama 2 has no MLP biases"),
        ({"hidden_act": "gelu"}, "hidden_act='gelu': Llama 2 uses 'silu'"),
    ],
    ids=["attention-bias", "mlp-bias", "gelu"],
)
def test_what_llama2_lacks_is_refused_in_one_line(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    """Accepting these silently dropped biases or swapped the activation (logits off)."""
    hf = hf_model(4)
    for key, value in change.items():
        setattr(hf.config, key, value)
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        from_hf(hf)
    hf.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_hf_checkpoint(tmp_path)


def test_biases_in_the_weights_are_refused_even_if_the_config_is_silent() -> None:
    hf = hf_model(4)
    sd = dict(hf.state_dict())
    sd["model.layers.0.self_attn.q_proj.bias"] = torch.zeros(64)
    args = args_from_hf_config(hf.config)
    with pytest.raises(ValueError, match=r"weights Llama 2 does not have: .*q_proj\.bias"):
        meta_state_dict_from_hf(sd, args)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"hidden_size": 56, "head_dim": 7},
            "head size 7 (hidden_size/heads) is odd: RoPE needs pairs",
        ),
        ({"num_key_value_heads": 3}, "num_key_value_heads 3 must divide num_attention_heads 8"),
        ({"head_dim": 16}, "head_dim 16 x 8 heads != hidden_size 64"),
    ],
    ids=["odd-head", "kv-heads", "head-dim"],
)
def test_invalid_head_sizes_are_one_line_errors(change: dict[str, int], message: str) -> None:
    config = hf_model(4).config.to_dict()
    config.update(change)
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        args_from_hf_config(config)
