"""Tokenizers behind one interface: raw bytes (256 ids) and a SentencePiece BPE model.

    from topiclab.nn.tokenizers import (ByteTokenizer, SentencePieceTokenizer, load_tokenizer,
                                       save_tokenizer)
    tok = ByteTokenizer()                                      # ids are the UTF-8 bytes
    tok = SentencePieceTokenizer.train(lines, vocab_size=512)  # offline, in memory, as Llama
    save_tokenizer(tok, "tok.json"); tok = load_tokenizer("tok.json")
    ids = tok.encode("To be", bos=True); text = tok.decode(ids)

The BPE model is trained with Llama's SentencePiece settings where they matter at this size:
BPE, ``byte_fallback`` (no unknown characters: unseen ones become byte tokens), digits split,
no normalisation, unk = 0, bos = 1, eos = 2, no pad id (-1).
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class Tokenizer(Protocol):
    """What the model, the trainer and generation need from a tokenizer."""

    kind: str
    vocab_size: int
    bos_id: int  # -1: the tokenizer has no such token
    eos_id: int
    pad_id: int

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def to_dict(self) -> dict[str, object]: ...


class ByteTokenizer:
    """One id per UTF-8 byte: vocabulary 256, no special tokens (bits per byte = per character
    on ASCII text such as the Shakespeare corpus)."""

    kind = "byte"
    vocab_size = 256
    bos_id = eos_id = pad_id = -1

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        if bos or eos:
            raise ValueError("the byte tokenizer has no BOS/EOS tokens (vocabulary = 256 bytes)")
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids if 0 <= int(i) < 256).decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind}


class SentencePieceTokenizer:
    """A SentencePiece model (BPE by default), as Llama's ``tokenizer.model``."""

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes) -> None:
        import sentencepiece as spm

        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.vocab_size = int(self.sp.vocab_size())
        self.bos_id, self.eos_id = int(self.sp.bos_id()), int(self.sp.eos_id())
        self.pad_id = int(self.sp.pad_id())

    @classmethod
    def train(
        cls,
        sentences: Iterable[str],
        vocab_size: int = 512,
        model_type: str = "bpe",
        max_sentence_length: int = 16384,
    ) -> SentencePieceTokenizer:
        """Train on an iterable of sentences (e.g. the corpus's lines), entirely in memory."""
        import sentencepiece as spm

        model = io.BytesIO()
        with open(os.devnull, "w") as quiet:  # the trainer logs every step to stderr otherwise
            spm.SentencePieceTrainer.train(
                sentence_iterator=(s for s in sentences if s.strip()),
                model_writer=model,
                logstream=quiet,
                vocab_size=vocab_size,
                model_type=model_type,
                character_coverage=1.0,
                byte_fallback=True,
                split_digits=True,
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                unk_id=0,
                bos_id=1,
                eos_id=2,
                pad_id=-1,
                max_sentence_length=max_sentence_length,
                num_threads=1,
                hard_vocab_limit=False,
            )
        return cls(model.getvalue())

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids: list[int] = self.sp.encode(text)
        return [self.bos_id] * bos + ids + [self.eos_id] * eos

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.sp.decode([int(i) for i in ids]))

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "model": base64.b64encode(self.model_proto).decode()}


def tokenizer_from_dict(data: dict[str, object]) -> Tokenizer:
    if data["kind"] == "byte":
        return ByteTokenizer()
    if data["kind"] == "sentencepiece":
        return SentencePieceTokenizer(base64.b64decode(str(data["model"])))
    raise ValueError(f"unknown tokenizer kind {data['kind']!r}; choose byte or sentencepiece")


def save_tokenizer(tok: Tokenizer, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(tok.to_dict()))
    return path


def load_tokenizer(path: str | Path) -> Tokenizer:
    return tokenizer_from_dict(json.loads(Path(path).read_text()))


def build_tokenizer(kind: str, sentences: Iterable[str] = (), vocab_size: int = 512) -> Tokenizer:
    """``byte`` or ``sentencepiece`` (trained on ``sentences``)."""
    if kind == "byte":
        return ByteTokenizer()
    if kind in ("sentencepiece", "bpe"):
        return SentencePieceTokenizer.train(sentences, vocab_size=vocab_size)
    raise ValueError(f"unknown tokenizer {kind!r}; choose byte or sentencepiece")
