"""The lean codec forward computes the module's logits: after a prefill and after each
one-token step, with grouped-query attention (2 query heads per KV head)."""

from __future__ import annotations

import torch

from topiclab.nn.llama import ModelArgs, Transformer
from topiclab.nn.lm_infer import LeanLlama


def test_prefill_and_steps_match_the_module_forward() -> None:
    torch.manual_seed(0)
    args = ModelArgs(
        dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=256, multiple_of=16, max_seq_len=24
    )
    model = Transformer(args).eval()
    x = torch.randint(0, 256, (3, 24))
    with torch.inference_mode():
        ref = model(x)
        net = LeanLlama(model, batch=3)
        torch.testing.assert_close(net.prefill(x[:, :10]), ref[:, 9], atol=1e-5, rtol=1e-5)
        for t in range(10, 24):
            torch.testing.assert_close(net.step(x[:, t], t), ref[:, t], atol=1e-5, rtol=1e-5)
        # A new prefill restarts at position 0: the module forward of the same tokens.
        torch.testing.assert_close(
            net.prefill(x[:, 5:9]), model(x[:, 5:9])[:, -1], atol=1e-5, rtol=1e-5
        )
