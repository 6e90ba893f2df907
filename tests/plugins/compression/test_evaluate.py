"""Delétang et al.'s chunked accounting: the classical header is counted once."""

from __future__ import annotations

import gzip

from topiclab.plugins.compression.compressors import classical
from topiclab.plugins.compression.evaluate import chunked_size, measure, totals

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
