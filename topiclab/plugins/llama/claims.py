"""The llama topic's claims: Meta's code and the Llama 2 paper, checked on this run.

    from topiclab.plugins.llama.claims import build_claims
    claims = build_claims(metrics, kv_rows, sizes, args)   # from the evaluate stage's values

Each claim names the metrics it reads (``uses``): one that is not finite fails it.
"""

from __future__ import annotations

from typing import Any

from topiclab.core.claims import ClaimBuilder, at_most, equals
from topiclab.core.topic import PROFILES, Claim
from topiclab.nn.llama import LLAMA2_PAPER as PAPER
from topiclab.nn.llama import ModelArgs, kv_cache_bytes_per_token

TARGET_BPC = 2.3  # the standard profile's target on held-out plays (2,800 steps, 2 cores)
# Claims that need the standard model and training: quick (30 steps, dim 32) checks code paths.
STANDARD_AND_FULL = ["standard", "full"]
MARGIN_BITS = 0.5  # "below the bigram baseline by a wide margin"
BPC = "bits/char = −mean log₂ p(c_t | c_<t)"


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
    on = ClaimBuilder(mt, expected_in=STANDARD_AND_FULL).on
    claims = [
        on(
            "val_bpc",
            at_most(mt["bigram_bpc"] - MARGIN_BITS),
            id="bpc_below_bigram",
            statement="A mini Llama beats a bigram model on held-out plays by a wide margin",
            anchor=f"<= bigram {mt['bigram_bpc']:.3f} - {MARGIN_BITS} bits/char",
            source=f"{BPC}; add-one bigram on the training plays",
            uses=["val_bpc", "bigram_bpc"],
        ),
        on(
            "val_bpc",
            at_most(TARGET_BPC),
            id="bpc_target",
            statement="Validation bits per character on held-out plays",
            anchor=f"<= {TARGET_BPC} bits/char",
            source=f"{BPC}; the standard profile's own target",
        ),
        on(
            "cache_max_rel_diff",
            at_most(1e-5),
            id="kv_cache_exact",
            statement="Incremental decoding with the KV cache equals the full forward pass",
            digits=None,
            anchor="max |diff| / max |logit| <= 1e-5 (fp32 rounding)",
            source="Meta model.py: cache written at start_pos",
            expected_in=PROFILES,
        ),
        on(
            "decode_speedup",
            lambda v: v > 1 and mt["decode_same_tokens"] == 1.0,
            id="kv_cache_speedup",
            statement="The KV cache makes decoding faster (and gives the same tokens)",
            digits=3,
            anchor="> 1x, same greedy tokens",
            source="Meta generation.py: forward(tokens[:, prev_pos:cur_pos], prev_pos)",
            # quick decodes 24 tokens with dim 32: the cache saves almost nothing (1.0-1.1x).
            uses=["decode_speedup", "decode_same_tokens"],
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
        on(
            "top_p_zero_equals_greedy",
            equals(1),
            id="top_p_zero_greedy",
            statement="Top-p sampling with p -> 0 is greedy",
            digits=None,
            anchor="1 (identical tokens)",
            source="Meta generation.py sample_top_p",
            expected_in=PROFILES,
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
