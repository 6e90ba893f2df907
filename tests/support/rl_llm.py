"""The rl-llm topic's quick stages with a tiny random byte-level Llama as the upstream SFT
model (the llama topic's quick run would train one; the stages only need a saved model)."""

from __future__ import annotations

from pathlib import Path

import torch


def run_quick(root: Path, overrides: list[str] | None = None) -> dict:
    """The four stages of the quick profile with a tiny upstream model and held-out text."""
    from pydoc_data import topics

    from topiclab.core.config import resolve_config
    from topiclab.core.manifest import UpstreamOutput
    from topiclab.core.registry import get_registry
    from topiclab.core.stages import STAGES, run_stage
    from topiclab.nn.llama import ModelArgs, Transformer

    torch.manual_seed(0)
    args = ModelArgs(
        dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=256, multiple_of=8, max_seq_len=64
    )
    up = root / "upstream"
    up.mkdir(parents=True)
    torch.save(Transformer(args).eval(), up / "llama.pt")
    (up / "val.txt").write_text("\n".join(list(topics.topics.values())[:40]), "utf-8")
    inputs = {
        "model": UpstreamOutput.of("llama", "model", "test", up / "llama.pt"),
        "held_out": UpstreamOutput.of("llama", "val_text", "test", up / "val.txt"),
    }
    cfg = resolve_config(get_registry().topics["rl-llm"], "quick", overrides=overrides)
    config = cfg.model_dump(mode="json")
    results: dict = {}
    for stage in STAGES:
        upstream = [results[s] for s in STAGES[: STAGES.index(stage)]]
        out = run_stage(
            "rl-llm", stage, "quick", config, root / stage, upstream, inputs=inputs, use_cache=False
        )
        results[stage] = out.result
    return results
