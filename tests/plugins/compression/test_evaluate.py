"""Delétang et al.'s chunked accounting: the classical header is counted once."""

from __future__ import annotations

import gzip
import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from topiclab.nn.llama import ModelArgs, Transformer
from topiclab.plugins.compression.compressors import classical
from topiclab.plugins.compression.config import CompressionConfig
from topiclab.plugins.compression.evaluate import chunked_size, jobs_of, measure, run_jobs, totals

GZIP = classical()[0]
DATA = b"Now is the winter of our discontent\nMade glorious summer by this sun of York;\n" * 60


def test_chunked_size_counts_the_header_once() -> None:
    parts = [DATA[i : i + 512] for i in range(0, len(DATA), 512)]
    header = len(gzip.compress(b"\x00", 9, mtime=0))
    size, ok = chunked_size(GZIP, DATA, 512)
    assert ok
    assert size == sum(len(GZIP.compress(p)) for p in parts) - header * (len(parts) - 1)


def test_totals_pool_bytes_over_plays() -> None:
    rows = measure("a", GZIP, DATA, 2048) + measure("b", GZIP, DATA[:1000], 2048)
    whole = next(t for t in totals(rows) if t["mode"] == "whole")
    raw = len(DATA) + 1000
    assert whole["raw_bytes"] == raw and whole["lossless"]
    assert whole["rate_pct"] == round(100 * whole["compressed_bytes"] / raw, 3)


class _Ctx:
    """The one part of a StageContext that run_jobs uses: a progress context."""

    @contextmanager
    def progress(self, name: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda i: None


def test_worker_processes_give_the_in_process_rows(tmp_path: Path) -> None:
    """Every kind of measurement, the LM's and the online mode's included: ``workers`` is an
    execution option (in no cache key), so the rows must not depend on it."""
    (tmp_path / "a.txt").write_bytes(DATA)
    (tmp_path / "b.txt").write_bytes(DATA[:700])
    files = {"a": str(tmp_path / "a.txt"), "b": str(tmp_path / "b.txt")}
    torch.manual_seed(0)
    args = ModelArgs(dim=16, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=256, multiple_of=8)
    torch.save(Transformer(args).eval(), tmp_path / "llama.pt")
    cfg = CompressionConfig(orders=[1], chunk_size=512, online_steps=1)
    jobs = jobs_of(cfg, files, ["a", "b"], str(tmp_path / "llama.pt"), online=True)
    jobs = [j for j in jobs if j[0] in ("classical", "context") or j[1] == "b"]  # short: b's
    assert [j[3] for j in jobs[:2]] == ["gzip -9", "bz2 -9"] and jobs[-3][1:] == (
        "b", files["b"], "order-1")  # fmt: skip
    assert {j[0] for j in jobs} == {"classical", "context", "lm", "online"}

    def strip(rows: list[list[dict]]) -> list[list[dict]]:
        timed = ("seconds", "decode_seconds")
        return [[{k: v for k, v in r.items() if k not in timed} for r in rs] for rs in rows]

    alone = run_jobs(_Ctx(), cfg.model_copy(update={"workers": 1}), jobs)
    pooled = run_jobs(_Ctx(), cfg.model_copy(update={"workers": 2}), jobs)
    assert strip(pooled) == strip(alone)
    assert [rs[0]["play"] for rs in pooled] == [j[1] for j in jobs]


def test_a_daemonic_process_measures_in_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A Dask worker is daemonic: multiprocessing refuses it children, so the jobs run here."""
    (tmp_path / "a.txt").write_bytes(DATA[:300])
    cfg = CompressionConfig(orders=[1], chunk_size=512, workers=2)
    jobs = jobs_of(cfg, {"a": str(tmp_path / "a.txt")}, ["a"], "unused.pt", online=False)[:2]
    monkeypatch.setitem(multiprocessing.current_process()._config, "daemon", True)  # type: ignore[attr-defined]
    rows = run_jobs(_Ctx(), cfg, jobs)
    assert [rs[0]["compressor"] for rs in rows] == ["gzip -9", "bz2 -9"]
    assert "not in 2 workers: this is a daemonic process" in caplog.text


def test_the_progress_bar_counts_from_step_0(tmp_path: Path) -> None:
    """``ctx.progress`` takes the 0-based step (``Progress``): the last job is step total - 1,
    or the bar and the logged 'step n/total' lines run one job ahead."""
    (tmp_path / "a.txt").write_bytes(DATA[:300])
    cfg = CompressionConfig(orders=[1], chunk_size=512, workers=1)
    jobs = jobs_of(cfg, {"a": str(tmp_path / "a.txt")}, ["a"], "unused.pt", online=False)[:2]
    steps: list[int] = []

    class Recording:
        @contextmanager
        def progress(self, name: str, total: int) -> Iterator[Callable[[int], None]]:
            yield steps.append

    run_jobs(Recording(), cfg, jobs)  # type: ignore[arg-type]
    assert steps == [0, 1]
