"""The claims read the metrics they name: a worse LM fails, a lost byte fails ``lossless``;
the config refuses nonsense before anything runs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from topiclab.plugins.compression.claims import CLASSICAL, build_claims
from topiclab.plugins.compression.config import CompressionConfig


def metrics(lm: float, lossless: float = 1.0) -> dict[str, float]:
    m = {f"rate_{mode}_{c}": 30.0 for mode in ("chunk", "whole") for c in CLASSICAL}
    m |= {
        "rate_chunk_LM": lm,
        "rate_whole_LM": lm,
        "lossless_all": lossless,
        "lm_ideal_bits": 10_000.0,
        "lm_code_bits": 10_040.0,
        "lm_chunks": 2.0,
    }
    return m


def verdicts(m: dict[str, float]) -> dict[str, bool]:
    return {c.id: c.passed for c in build_claims(m)}


def test_better_lm_passes_worse_fails() -> None:
    assert all(verdicts(metrics(20.0)).values())
    worse = verdicts(metrics(31.0))
    assert not worse["lm_beats_classical_on_chunks"] and not worse["lm_beats_ppmd_whole"]
    assert worse["lossless"] and worse["coder_overhead"]


def test_lost_byte_and_coder_slack_fail() -> None:
    assert not verdicts(metrics(20.0, lossless=0.0))["lossless"]
    m = metrics(20.0) | {"lm_code_bits": 10_100.0}  # > 10,000 × 1.005 + 2 × 16
    assert not verdicts(m)["coder_overhead"]


def test_config_bounds() -> None:
    with pytest.raises(ValidationError):
        CompressionConfig(chunk_size=0)
    with pytest.raises(ValidationError):
        CompressionConfig(plays=[])


def test_online_and_cross_modal_claims_read_their_rates() -> None:
    m = metrics(20.0) | {
        "rate_whole_LM online": 29.0,
        "online_ideal_bits": 5_000.0,
        "online_code_bits": 5_010.0,
        "online_chunks": 3.0,
        "modal_rate_chunk_image_LM": 60.0,
        "modal_rate_chunk_audio_LM": 90.0,
    }
    ok = verdicts(m)
    assert (
        ok["online_beats_xz"] and ok["online_coder_overhead"] and ok["lm_text_better_than_nontext"]
    )
    bad = verdicts(
        m
        | {
            "rate_whole_LM online": 30.5,
            "online_code_bits": 5_100.0,
            "modal_rate_chunk_image_LM": 19.0,
        }
    )
    assert not (bad["online_beats_xz"] or bad["online_coder_overhead"])
    assert not bad["lm_text_better_than_nontext"]
    assert "online_beats_xz" not in verdicts(metrics(20.0))  # no online rows: no claim
