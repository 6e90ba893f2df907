"""The compression topic's claims, from the evaluate stage's metrics (pure functions).

    from topiclab.plugins.compression.claims import build_claims
    claims = build_claims(metrics)

Rates are Σ compressed / Σ raw over the held-out plays, in %. A claim that needs the llama
topic's standard model says so (``expected_in``): quick's 30-step model checks code paths only.
"""

from __future__ import annotations

from topiclab.core.claims import ClaimBuilder, at_most, below, equals
from topiclab.core.topic import Claim

STANDARD_AND_FULL = ["standard", "full"]
TABLE1 = "Delétang et al. 2023, Language Modeling Is Compression, Table 1"
# (row name, our compressor, enwik9 at 2048-byte chunks, enwik9 whole) from Table 1.
DELETANG: list[tuple[str, str, float | str, float | str]] = [
    ("gzip", "gzip -9", 48.1, 32.3),
    ("LZMA2 (xz)", "xz", 50.0, 23.0),
    ("LM: the llama topic's model (this run)", "LM", "", ""),
    ("Transformer 3.2M, enwik8-trained (theirs)", "", 17.0, ""),
    ("Chinchilla 70B (theirs)", "", 8.3, ""),
]
ONLINE = "LM online"  # the online mode's rows (no pretrained weights)
WHOLE_FILE_RIVALS = ["gzip -9", "bz2 -9", "xz -9e", "zstd -19", "brotli -11"]
CLASSICAL = [*WHOLE_FILE_RIVALS, "xz", "PPMd"]
CODER_SLACK = 0.005  # coded bits ≤ ideal × 1.005 + a constant per chunk
BITS_PER_CHUNK = 16  # the end (≤ 2 bits past the interval) and the padding to a byte


def _rivals(m: dict[str, float], mode: str, rivals: list[str]) -> tuple[float, list[str]]:
    """The best rival's rate, and the metrics the verdict reads (ours first)."""
    keys = [f"rate_{mode}_{r}" for r in rivals]
    return min(m[k] for k in keys), [f"rate_{mode}_LM", *keys]


def build_claims(m: dict[str, float]) -> list[Claim]:
    on = ClaimBuilder(m).on
    trained = ClaimBuilder(m, expected_in=STANDARD_AND_FULL).on
    best_chunk, chunk_uses = _rivals(m, "chunk", CLASSICAL)
    best_whole, whole_uses = _rivals(m, "whole", WHOLE_FILE_RIVALS)
    slack = m["lm_ideal_bits"] * (1 + CODER_SLACK) + BITS_PER_CHUNK * m["lm_chunks"]
    return [
        on(
            "lossless_all",
            equals(1.0),
            id="lossless",
            statement="decode(encode(x)) == x for every compressor, play, chunk and mode",
            value="yes" if m["lossless_all"] == 1.0 else "no",
            anchor="every stream restored byte for byte",
            source="definition of lossless compression; the LM's SHA-256 checked on decode",
        ),
        on(
            "lm_code_bits",
            at_most(slack),
            id="coder_overhead",
            statement="The arithmetic coder spends at most 0.5 % + 16 bits/chunk over Σ −log2 q",
            digits=1,
            anchor=f"<= {slack:.0f} bits (ideal {m['lm_ideal_bits']:.0f})",
            source="arithmetic coding: length ≤ −log2 P + 2 bits (Witten, Neal & Cleary 1987)",
            uses=["lm_code_bits", "lm_ideal_bits"],
        ),
        trained(
            "rate_chunk_LM",
            below(best_chunk),
            id="lm_beats_classical_on_chunks",
            statement="On 2048-byte chunks the LM beats every classical compressor",
            digits=2,
            anchor=f"< best classical {best_chunk:.2f} %",
            source=f"{TABLE1} (2048-byte chunks)",
            uses=chunk_uses,
        ),
        trained(
            "rate_whole_LM",
            below(best_whole),
            id="lm_beats_classical_whole",
            statement="On whole files the LM beats gzip, bz2, xz -9e, zstd -19 and brotli -11",
            digits=2,
            anchor="< each of them (rates.csv)",
            source=f"{TABLE1} (chunk ∞ rows)",
            uses=whole_uses,
        ),
        *online_claims(m),
        *modal_claims(m),
        trained(
            "rate_whole_LM",
            below(m["rate_whole_PPMd"]),
            id="lm_beats_ppmd_whole",
            statement="Target: on whole files the LM beats PPMd (order 6)",
            digits=2,
            anchor=f"< PPMd {m['rate_whole_PPMd']:.2f} %",
            source="PPMd var. I (Shkarin 2002), the strongest classical text compressor here",
            uses=["rate_whole_LM", "rate_whole_PPMd"],
        ),
    ]


def online_claims(m: dict[str, float]) -> list[Claim]:
    key = f"rate_whole_{ONLINE}"
    if key not in m:
        return []
    slack = m["online_ideal_bits"] * (1 + CODER_SLACK) + BITS_PER_CHUNK * m["online_chunks"]
    xz, gz = m["rate_whole_xz -9e"], m["rate_whole_gzip -9"]
    on = ClaimBuilder(m).on
    return [
        on(
            key,
            below(xz),
            id="online_beats_xz",
            statement="Target: the online mode (no pretrained weights) beats xz -9e on whole plays",
            digits=2,
            anchor=f"< xz -9e {xz:.2f} % (gzip -9 {gz:.2f} %)",
            source="NNCP (Bellard 2019-2021): online-trained models below xz on enwik8",
            expected_in=STANDARD_AND_FULL,
            uses=[key, "rate_whole_xz -9e", "rate_whole_gzip -9"],
        ),
        on(
            "online_code_bits",
            at_most(slack),
            id="online_coder_overhead",
            statement="The online code spends ≤ 0.5 % + 16 bits/row over its prequential Σ −log2 q",
            digits=1,
            anchor=f"<= {slack:.0f} bits (ideal {m['online_ideal_bits']:.0f})",
            source="Rae's prequential code length; arithmetic coding ≤ −log2 P + 2 bits",
            uses=["online_code_bits", "online_ideal_bits"],
        ),
    ]


def modal_claims(m: dict[str, float]) -> list[Claim]:
    keys = [k for k in m if k.startswith("modal_rate_chunk_") and k.endswith("_LM")]
    if not keys:
        return []
    worst = min(m[k] for k in keys)
    return [
        ClaimBuilder(m, expected_in=STANDARD_AND_FULL).on(
            "rate_chunk_LM",
            below(worst),
            id="lm_text_better_than_nontext",
            statement="The text-trained LM compresses text better than image or audio bytes",
            digits=2,
            anchor=f"< its rate on every non-text stream (best {worst:.2f} %)",
            source="Delétang et al. 2023, Table 1 (their small text Transformers on ImageNet, "
            "LibriSpeech)",
            uses=["rate_chunk_LM", *keys],
        )
    ]
