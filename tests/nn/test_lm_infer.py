"""The lean codec forward computes the module's logits: one-token steps on the ring cache, with
grouped-query attention (2 query heads per KV head), before and after the window is full."""

from __future__ import annotations

import pytest
import torch

from topiclab.nn.llama import ModelArgs, Transformer
from topiclab.nn.lm_infer import LeanLlama

WINDOW = 12


def model(layers: int) -> Transformer:
    torch.manual_seed(0)
    args = ModelArgs(
        dim=32, n_layers=layers, n_heads=4, n_kv_heads=2, vocab_size=256, multiple_of=16,
        max_seq_len=WINDOW,
    )  # fmt: skip
    return Transformer(args).eval()


@pytest.mark.parametrize("layers", [1, 2])
def test_steps_match_the_module_forward(layers: int) -> None:
    # Within the first window: the module on the same tokens. Past it, a one-layer model is
    # the module on the last WINDOW tokens at positions 0..11 (the ring's rotary angles are
    # absolute, attention sees only distances); deeper ones see further back (no reference).
    m = model(layers)
    x = torch.randint(0, 256, (3, 40))
    with torch.inference_mode():
        net = LeanLlama(m, batch=3)
        for t in range(40 if layers == 1 else WINDOW):
            want = m(x[:, max(0, t + 1 - WINDOW) : t + 1])[:, -1]
            torch.testing.assert_close(net.step(x[:, t], t), want, atol=2e-5, rtol=2e-5)


def test_deeper_layers_remember_past_the_window() -> None:
    # Two sequences that differ only before the last window: a one-layer model cannot tell
    # them apart, a two-layer one can (its cached keys carry their tokens' own past).
    x = torch.randint(0, 256, (1, 30)).repeat(2, 1)
    x[1, 10:14] = (x[0, 10:14] + 1) % 256  # before the last window (18..29), within 2 x 11
    for layers, differ in ((1, False), (2, True)):
        with torch.inference_mode():
            net = LeanLlama(model(layers), batch=2)
            out = [net.step(x[:, t], t) for t in range(30)][-1]
        assert (not torch.allclose(out[0], out[1], atol=1e-5)) is differ


def test_a_prefill_restarts_at_position_zero() -> None:
    m = model(2)
    x = torch.randint(0, 256, (3, 30))
    with torch.inference_mode():
        net = LeanLlama(m, batch=3)
        for t in range(20):
            net.step(x[:, t], t)
        got = net.prefill(x[:, 14:20])  # the module on the same 6 tokens, then steps on
        torch.testing.assert_close(got, m(x[:, 14:20])[:, -1], atol=2e-5, rtol=2e-5)
        for t in range(20, 26):
            want = m(x[:, 14 : t + 1])[:, -1]
            torch.testing.assert_close(net.step(x[:, t], t - 14), want, atol=2e-5, rtol=2e-5)
