"""Every compressor is lossless on awkward inputs; the context models learn; the classical
settings are the ones named."""

from __future__ import annotations

import numpy as np
import pytest

from topiclab.plugins.compression.compressors import by_name, classical, order_k
from topiclab.plugins.compression.context import ContextModel

TEXT = (
    b"HAMLET. To be, or not to be, that is the question:\n"
    b"Whether 'tis nobler in the mind to suffer\n"
    b"The slings and arrows of outrageous fortune,\n"
) * 6
INPUTS = {
    "empty": b"",
    "one": b"\x00",
    "text": TEXT,
    "binary": bytes(np.random.default_rng(0).integers(0, 256, 700, dtype=np.uint8)),
}
ALL = [*classical(), *(order_k(k) for k in range(6))]


@pytest.mark.parametrize("name", list(INPUTS))
@pytest.mark.parametrize("comp", ALL, ids=[c.name for c in ALL])
def test_lossless(comp, name: str) -> None:
    data = INPUTS[name]
    assert comp.decompress(comp.compress(data)) == data


def test_higher_orders_beat_order_0_on_repetitive_text() -> None:
    sizes = {k: len(order_k(k).compress(TEXT)) for k in (0, 2, 4)}
    assert sizes[2] < sizes[0] * 0.8
    assert sizes[4] < sizes[2]


def test_context_model_predicts_a_distribution() -> None:
    model = ContextModel(2)
    for b in b"ababab":
        model.update(b)
    p = model.probs()
    assert p.sum() == pytest.approx(1.0)
    assert p[ord("a")] > 0.5  # after "ab" comes "a"
    assert (p > 0).all()


def test_names_and_unknown_name() -> None:
    assert [c.name for c in classical()] == [
        "gzip -9",
        "bz2 -9",
        "xz",
        "xz -9e",
        "zstd -19",
        "brotli -11",
        "PPMd",
    ]
    assert by_name("order-3").kind == "context"
    with pytest.raises(KeyError, match="choose from"):
        by_name("zip")
