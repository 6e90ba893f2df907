"""The llama topic's claims: Meta's code and the Llama 2 paper, checked on this run.

    from topiclab.plugins.llama.claims import build_claims
    claims = build_claims(metrics, kv_rows, sizes, args)   # from the evaluate stage's values

Each claim names the metrics it reads (``uses``): one that is not finite fails it.
"""

from __future__ import annotations

from typing import Any

from topiclab.core.topic import Claim
from topiclab.nn.llama import LLAMA2_PAPER as PAPER
from topiclab.nn.llama import ModelArgs, kv_cache_bytes_per_token

TARGET_BPC = 2.3  # the standard profile's target on held-out plays (2,200 steps, 2 cores)
# Claims that need the standard model and training: quick (30 steps, dim 32) checks code paths.
STANDARD_AND_FULL = ["standard", "full"]
MARGIN_BITS = 0.5  # "below the bigram baseline by a wide margin"


def build_claims(
    mt: dict[str, float],
    kv_rows: list[dict[str, Any]],
    sizes: list[dict[str, Any]],
    args: ModelArgs,
) -> list[Claim]:
    kv = {r["attention"]: r for r in kv_rows}
    mha = kv["MHA"]["kv_bytes_per_token_fp32"]
    gqa_ratio = mha / kv_cache_bytes_per_token(args, 4)
    s70 = next(s for s in sizes if s["model"] == "70B")
    claims = [
        Claim(
            id="bpc_below_bigram",
            statement="A mini Llama beats a bigram model on held-out plays by a wide margin",
            value=round(mt["val_bpc"], 4),
            anchor=f"<= bigram {mt['bigram_bpc']:.3f} - {MARGIN_BITS} bits/char",
            source="bits/char = −mean log₂ p(c_t | c_<t); add-one bigram on the training plays",
            expected_in=STANDARD_AND_FULL,
            uses=["val_bpc", "bigram_bpc"],
            passed=mt["val_bpc"] <= mt["bigram_bpc"] - MARGIN_BITS,
        ),
        Claim(
            id="bpc_target",
            statement="Validation bits per character on held-out plays",
            value=round(mt["val_bpc"], 4),
            anchor=f"<= {TARGET_BPC} bits/char",
            source="bits/char = −mean log₂ p(c_t | c_<t); the standard profile's own target",
            expected_in=STANDARD_AND_FULL,
            uses=["val_bpc"],
            passed=mt["val_bpc"] <= TARGET_BPC,
        ),
        Claim(
            id="kv_cache_exact",
            statement="Incremental decoding with the KV cache equals the full forward pass",
            value=mt["cache_max_rel_diff"],
            anchor="max |diff| / max |logit| <= 1e-5 (fp32 rounding)",
            source="Meta model.py: cache written at start_pos",
            uses=["cache_max_rel_diff"],
            passed=mt["cache_max_rel_diff"] <= 1e-5,
        ),
        Claim(
            id="kv_cache_speedup",
            statement="The KV cache makes decoding faster (and gives the same tokens)",
            value=round(mt["decode_speedup"], 3),
            anchor="> 1x, same greedy tokens",
            source="Meta generation.py: forward(tokens[:, prev_pos:cur_pos], prev_pos)",
            uses=["decode_speedup", "decode_same_tokens"],
            # quick decodes 24 tokens with dim 32: the cache saves almost nothing (1.0-1.1x).
            expected_in=STANDARD_AND_FULL,
            passed=mt["decode_speedup"] > 1 and mt["decode_same_tokens"] == 1.0,
        ),
        Claim(
            id="gqa_kv_memory",
            statement="GQA shrinks the KV cache by n_heads / n_kv_heads",
            value=round(gqa_ratio, 4),
            anchor=f"= {args.n_heads // args.kv_heads}",
            source="Ainslie et al. 2023 (GQA); 70B: 64 query heads, 8 KV heads",
            passed=gqa_ratio == args.n_heads / args.kv_heads,
        ),
        Claim(
            id="kv_bytes_70b",
            statement="Llama 2 70B KV cache per token in fp16 (GQA)",
            value=s70["kv_bytes_per_token_fp16"],
            anchor="327,680 B (8x less than MHA)",
            source="2·L·n_kv·d_head·2 with L 80, n_kv 8, d_head 128",
            passed=s70["kv_bytes_per_token_fp16"] == 327_680,
        ),
        Claim(
            id="top_p_zero_greedy",
            statement="Top-p sampling with p -> 0 is greedy",
            value=mt["top_p_zero_equals_greedy"],
            anchor="1 (identical tokens)",
            source="Meta generation.py sample_top_p",
            uses=["top_p_zero_equals_greedy"],
            passed=mt["top_p_zero_equals_greedy"] == 1,
        ),
    ]
    for s in sizes:
        claims.append(
            Claim(
                id=f"params_{s['model']}",
                statement=f"Llama 2 {s['model']} parameter count",
                value=s["params_computed"],
                anchor=f"{s['params_published']:,}",
                source=PAPER,
                passed=s["params_computed"] == s["params_published"],
            )
        )
    return claims
