"""Convert between our Llama (``topiclab.nn.llama``) and Hugging Face ``LlamaForCausalLM``.

    from topiclab.nn.llama_hf import from_hf, to_hf, load_hf_checkpoint
    ours = from_hf(hf_model)                    # same logits as hf_model (fp32: <= 1e-5)
    hf_model = to_hf(ours)
    ours = load_hf_checkpoint("/data/Llama-2-7b-hf")   # a local directory; nothing is downloaded

The one subtle step is RoPE. Meta rotates *adjacent* pairs of dimensions (2i, 2i+1); HF rotates
*halves* (i, i + d/2). The two models are the same after permuting the rows of wq and wk within
each head (llama2.c ``export.py``: ``permute_reverse`` / ``permute_original``). Forget it and the
logits agree at position 0 only, where every rotation is the identity.

``transformers`` is imported lazily: it is only needed to build an HF model or config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from topiclab.nn.llama import ModelArgs, Transformer, ffn_hidden_size

if TYPE_CHECKING:
    from transformers import LlamaConfig, LlamaForCausalLM

StateDict = dict[str, torch.Tensor]


def hf_to_meta_rows(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rows of an HF q/k projection (halves layout) -> Meta's interleaved layout."""
    out_dim, dim = w.shape
    hd = out_dim // n_heads
    return w.view(n_heads, 2, hd // 2, dim).transpose(1, 2).reshape(out_dim, dim)


def meta_to_hf_rows(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rows of a Meta q/k projection (interleaved) -> HF's halves layout (the inverse)."""
    out_dim, dim = w.shape
    hd = out_dim // n_heads
    return w.view(n_heads, hd // 2, 2, dim).transpose(1, 2).reshape(out_dim, dim)


def _ffn_rule_for(dim: int, intermediate: int) -> tuple[int, float | None]:
    """(multiple_of, ffn_dim_multiplier) that make Meta's rule give ``intermediate`` exactly."""
    base = int(2 * (4 * dim) / 3)
    if intermediate >= base:
        return intermediate, None
    multiple_of, mult = 1, (intermediate + 0.5) / base
    assert ffn_hidden_size(dim, multiple_of, mult) == intermediate
    return multiple_of, mult


def _refuse_what_llama2_lacks(c: dict[str, Any]) -> None:
    """Our model has no biases and uses SiLU: converting anything else would drop weights or
    change the function silently (logits off by 0.8-4.3 in the measured cases)."""
    rope = c.get("rope_parameters") or {}
    if rope.get("rope_type", "default") != "default" or c.get("rope_scaling"):
        raise ValueError("only the default RoPE (Llama 2) is supported, not rope scaling")
    if c.get("tie_word_embeddings"):
        raise ValueError("Llama 2 has an untied output head; tied checkpoints are not Llama 2")
    if c.get("attention_bias"):
        raise ValueError("attention_bias=true: Llama 2 has no attention biases")
    if c.get("mlp_bias"):
        raise ValueError("mlp_bias=true: Llama 2 has no MLP biases")
    act = c.get("hidden_act", "silu")
    if act != "silu":
        raise ValueError(f"hidden_act={act!r}: Llama 2 uses 'silu'")


def _heads(c: dict[str, Any]) -> tuple[int, int, int]:
    """(dim, n_heads, n_kv_heads), checked: head size even (RoPE rotates pairs), heads that
    tile the width, and KV heads that divide the query heads."""
    dim, n_heads = int(c["hidden_size"]), int(c["num_attention_heads"])
    n_kv = int(c.get("num_key_value_heads") or n_heads)
    if n_heads <= 0 or n_kv <= 0 or n_heads % n_kv:
        raise ValueError(f"num_key_value_heads {n_kv} must divide num_attention_heads {n_heads}")
    head_dim = c.get("head_dim") or dim // n_heads
    if head_dim * n_heads != dim:
        raise ValueError(f"head_dim {head_dim} x {n_heads} heads != hidden_size {dim}")
    if head_dim % 2:
        raise ValueError(f"head size {head_dim} (hidden_size/heads) is odd: RoPE needs pairs")
    return dim, n_heads, n_kv


def args_from_hf_config(cfg: Any, max_seq_len: int | None = None) -> ModelArgs:
    """ModelArgs of an HF ``LlamaConfig`` (or its ``config.json`` dict).

    Raises ``ValueError`` (one line) for what Llama 2 does not have: biases, an activation
    other than SiLU, RoPE scaling, a tied head, or head sizes our layout cannot hold.
    """
    c = cfg if isinstance(cfg, dict) else cfg.to_dict()
    _refuse_what_llama2_lacks(c)
    rope = c.get("rope_parameters") or {}
    theta = float(rope.get("rope_theta") or c.get("rope_theta") or 10000.0)
    dim, n_heads, n_kv = _heads(c)
    multiple_of, mult = _ffn_rule_for(dim, int(c["intermediate_size"]))
    return ModelArgs(
        dim=dim,
        n_layers=int(c["num_hidden_layers"]),
        n_heads=n_heads,
        n_kv_heads=n_kv,
        vocab_size=int(c["vocab_size"]),
        multiple_of=multiple_of,
        ffn_dim_multiplier=mult,
        norm_eps=float(c["rms_norm_eps"]),
        rope_theta=theta,
        max_seq_len=max_seq_len or int(c["max_position_embeddings"]),
    )


def hf_config(args: ModelArgs, attn_implementation: str = "eager") -> LlamaConfig:
    """The HF ``LlamaConfig`` of our ModelArgs."""
    from transformers import LlamaConfig

    make: Any = LlamaConfig  # its typed signature omits the kwargs it forwards
    return make(
        vocab_size=args.vocab_size,
        hidden_size=args.dim,
        intermediate_size=args.ffn_hidden,
        num_hidden_layers=args.n_layers,
        num_attention_heads=args.n_heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=args.max_seq_len,
        rms_norm_eps=args.norm_eps,
        rope_theta=args.rope_theta,
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        attn_implementation=attn_implementation,
    )


# (ours, HF) names per layer; q and k also need the row permutation.
_LAYER_NAMES = [
    ("attention.wq.weight", "self_attn.q_proj.weight"),
    ("attention.wk.weight", "self_attn.k_proj.weight"),
    ("attention.wv.weight", "self_attn.v_proj.weight"),
    ("attention.wo.weight", "self_attn.o_proj.weight"),
    ("feed_forward.w1.weight", "mlp.gate_proj.weight"),
    ("feed_forward.w3.weight", "mlp.up_proj.weight"),
    ("feed_forward.w2.weight", "mlp.down_proj.weight"),
    ("attention_norm.weight", "input_layernorm.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
]
_TOP_NAMES = [
    ("tok_embeddings.weight", "model.embed_tokens.weight"),
    ("norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
]


def _convert(sd: StateDict, args: ModelArgs, to_hf: bool) -> StateDict:
    permute = meta_to_hf_rows if to_hf else hf_to_meta_rows
    heads = {"wq": args.n_heads, "wk": args.kv_heads}
    out: StateDict = {}
    for ours, theirs in _TOP_NAMES:
        src, dst = (ours, theirs) if to_hf else (theirs, ours)
        out[dst] = sd[src]
    for i in range(args.n_layers):
        for ours, theirs in _LAYER_NAMES:
            o, t = f"layers.{i}.{ours}", f"model.layers.{i}.{theirs}"
            src, dst = (o, t) if to_hf else (t, o)
            w = sd[src]
            kind = ours.split(".")[1]
            out[dst] = permute(w, heads[kind]) if kind in heads else w
    return out


def meta_state_dict_from_hf(sd: StateDict, args: ModelArgs) -> StateDict:
    """An HF ``LlamaForCausalLM`` state dict -> ours; a tensor with no place in Llama 2 (a
    bias, say, in a checkpoint whose config does not mention it) is an error, not dropped."""
    known = {t for _, t in _TOP_NAMES} | {
        f"model.layers.{i}.{t}" for i in range(args.n_layers) for _, t in _LAYER_NAMES
    }
    extra = sorted(k for k in sd if k not in known and not k.endswith("rotary_emb.inv_freq"))
    if extra:
        more = f" and {len(extra) - 3} more" if len(extra) > 3 else ""
        raise ValueError(f"weights Llama 2 does not have: {', '.join(extra[:3])}{more}")
    return _convert(sd, args, to_hf=False)


def hf_state_dict_from_meta(sd: StateDict, args: ModelArgs) -> StateDict:
    """Our state dict -> an HF ``LlamaForCausalLM`` state dict."""
    return _convert(sd, args, to_hf=True)


def from_hf(hf: LlamaForCausalLM, max_seq_len: int | None = None) -> Transformer:
    """Our model with the weights (and dtype) of an HF model."""
    args = args_from_hf_config(hf.config, max_seq_len)
    model = Transformer(args).to(hf.lm_head.weight.dtype)
    model.load_state_dict(meta_state_dict_from_hf(hf.state_dict(), args))
    return model


def to_hf(model: Transformer, attn_implementation: str = "eager") -> LlamaForCausalLM:
    """An HF ``LlamaForCausalLM`` with our model's weights."""
    from transformers import LlamaForCausalLM

    hf: Any = LlamaForCausalLM(hf_config(model.params, attn_implementation))
    hf = hf.to(model.output.weight.dtype)
    hf.load_state_dict(hf_state_dict_from_meta(model.state_dict(), model.params))
    return cast("LlamaForCausalLM", hf.eval())


def _read_weights(folder: Path) -> StateDict:
    """Every tensor of the ``*.safetensors`` (or ``pytorch_model*.bin``) shards in ``folder``."""
    shards = sorted(folder.glob("*.safetensors"))
    sd: StateDict = {}
    if shards:
        from safetensors.torch import load_file

        for shard in shards:
            sd.update(load_file(str(shard)))
        return sd
    for shard in sorted(folder.glob("pytorch_model*.bin")):
        sd.update(torch.load(shard, map_location="cpu", weights_only=True))
    if not sd:
        raise FileNotFoundError(f"no *.safetensors or pytorch_model*.bin weights in {folder}")
    return sd


def load_hf_checkpoint(
    folder: str | Path, max_seq_len: int | None = None, dtype: torch.dtype | None = None
) -> Transformer:
    """Load a Llama 2 checkpoint saved in HF format (``config.json`` + weights) from disk.

    Reads the files directly (no HF model is built, nothing is downloaded); ``dtype`` defaults
    to the checkpoint's own (``torch_dtype``/``dtype`` in ``config.json``, else float32).
    """
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    args = args_from_hf_config(config, max_seq_len)
    sd = _read_weights(folder)
    sd.pop("model.rotary_emb.inv_freq", None)  # older checkpoints saved the RoPE buffer
    name = config.get("dtype") or config.get("torch_dtype") or "float32"
    dtype = dtype or getattr(torch, str(name))
    with torch.device("meta"):
        model = Transformer(args)
    model.load_state_dict(meta_state_dict_from_hf(sd, args), assign=True)
    return model.to(dtype).eval()
