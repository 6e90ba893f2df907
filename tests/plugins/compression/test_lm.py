"""The LM compressor: lossless on awkward inputs (cache refills included), decoded in a fresh
process by the CLI, and every bad input refused in one line with exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import typer

from topiclab.nn.llama import ModelArgs, Transformer
from topiclab.nn.lm_codec import decode_chunks, encode_chunks, split_chunks
from topiclab.plugins.compression import cli
from topiclab.plugins.compression.container import FormatError
from topiclab.plugins.compression.lm import compress_bytes, decompress_bytes, load_model

REPO = Path(__file__).resolve().parents[3]
TEXT = b"To be, or not to be, that is the question:\nWhether 'tis nobler in the mind\n" * 40


def tiny(seed: int) -> Transformer:
    torch.manual_seed(seed)
    args = ModelArgs(
        dim=16, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=256, multiple_of=8, max_seq_len=16
    )  # a short window: the cache refills often
    return Transformer(args).eval()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("m") / "llama.pt"
    torch.save(tiny(0), path)
    return path


@pytest.mark.parametrize(
    "data",
    [b"", b"x", TEXT[:700], bytes(np.random.default_rng(0).integers(0, 256, 300, np.uint8))],
    ids=["empty", "one", "text", "binary"],
)
def test_round_trip(model_file: Path, data: bytes) -> None:
    model = load_model(model_file)
    blob = compress_bytes(model, data, chunk=256)
    assert decompress_bytes(model, blob) == data


@pytest.mark.parametrize(("batch", "keep"), [(2, 0), (1, 0), (4, 0), (2, 3), (1, 15), (4, 8)])
def test_groups_rings_and_restarts_round_trip(batch: int, keep: int) -> None:
    # 5 chunks in groups of `batch` (the last group shorter), the last chunk shorter, each
    # 4 to 5 times the model's 16-byte window: the ring cache wraps (keep 0), or a full cache
    # restarts with `keep` bytes every (16 - keep) steps; decoded byte for byte.
    model = tiny(2)
    chunks = split_chunks(TEXT[:290], 64)
    codes, ideal = encode_chunks(model, chunks, batch=batch, keep=keep)
    lengths = list(map(len, chunks))
    back = decode_chunks(model, [c.data for c in codes], lengths, batch=batch, keep=keep)
    assert back == chunks
    assert sum(c.n_bits for c in codes) <= ideal * 1.005 + 16 * len(chunks)


def test_refuses_wrong_model_version_and_damage(model_file: Path) -> None:
    model = load_model(model_file)
    blob = compress_bytes(model, TEXT[:300], chunk=128)
    with pytest.raises(FormatError, match="not this one"):
        decompress_bytes(tiny(1), blob)
    with pytest.raises(FormatError, match="truncated"):
        decompress_bytes(model, blob[:-3])
    with pytest.raises(FormatError, match="version 7"):
        decompress_bytes(model, blob[:4] + b"\x00\x07" + blob[6:])
    with pytest.raises(FormatError, match="magic"):
        decompress_bytes(model, b"PK\x03\x04" + blob[4:])
    assert blob[42] == 1  # the thread count, after magic, version, flags, tokenizer, 300, SHA
    with pytest.raises(FormatError, match="checksum"):
        decompress_bytes(model, blob[:42] + b"\x02" + blob[43:])
    flipped = bytearray(blob)
    flipped[-20] ^= 0x40  # inside a chunk's code: decodes to other bytes
    with pytest.raises(FormatError, match="SHA-256"):
        decompress_bytes(model, bytes(flipped))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TOPICLAB_PLUGINS": "topiclab.plugins.compression",
        "PYTHONPATH": str(REPO),
        "TOPICLAB_NO_PROGRESS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "topiclab.app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def test_cli_decodes_in_a_fresh_process(model_file: Path, tmp_path: Path, capsys) -> None:
    src = tmp_path / "play.txt"
    src.write_bytes(TEXT[:2100])  # two chunks of 2048
    cli.compress_cmd(src, model_file, None, False, 1)
    assert "bits/byte" in capsys.readouterr().out
    out = tmp_path / "copy.txt"
    back = run_cli("decompress", f"{src}.tlz", "--model", str(model_file), "-o", str(out))
    assert back.returncode == 0, back.stderr
    assert out.read_bytes() == src.read_bytes()


def refusal(capsys: pytest.CaptureFixture[str], fn, *args) -> str:
    with pytest.raises(typer.Exit) as e:
        fn(*args)
    assert e.value.exit_code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_cli_refusals_write_nothing(model_file: Path, tmp_path: Path, capsys) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(TEXT[:200])
    cli.compress_cmd(src, model_file, None, False, 1)
    tlz = tmp_path / "a.txt.tlz"
    assert "exists" in refusal(capsys, cli.compress_cmd, src, model_file, None, False, 1)
    other = tmp_path / "other.pt"
    torch.save(tiny(1), other)
    out = tmp_path / "restored.txt"
    assert "not this one" in refusal(capsys, cli.decompress_cmd, tlz, other, out, False)
    cut = tmp_path / "cut.tlz"
    cut.write_bytes(tlz.read_bytes()[:-5])
    assert "truncated" in refusal(capsys, cli.decompress_cmd, cut, model_file, out, False)
    assert "magic" in refusal(capsys, cli.decompress_cmd, src, model_file, out, False)
    assert "not found" in refusal(capsys, cli.compress_cmd, src, tmp_path / "no.pt", out, True, 1)
    assert not out.exists()
    cli.decompress_cmd(tlz, model_file, out, False)
    assert out.read_bytes() == src.read_bytes()


def test_every_damaged_header_byte_is_refused_or_harmless(model_file: Path) -> None:
    # Flip bytes across the header and cut the file at many places: each attempt either
    # restores the original exactly or raises FormatError (one line), never anything else.
    model = load_model(model_file)
    data = TEXT[:120]
    blob = compress_bytes(model, data, chunk=64)
    for i in range(0, len(blob), max(1, len(blob) // 40)):
        for damaged in (blob[:i], blob[:i] + bytes([blob[i] ^ 0x21]) + blob[i + 1 :]):
            try:
                assert decompress_bytes(model, damaged) == data
            except FormatError as e:
                assert "\n" not in str(e)


def test_llama_topic_model_not_trained_yet_is_one_line(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A home of its own: other tests of the session (a suite with compression) train llama
    # quick in the shared one.
    monkeypatch.setenv("TOPICLAB_HOME", str(tmp_path / "home"))
    src = tmp_path / "a.txt"
    src.write_bytes(b"abc")
    err = refusal(capsys, cli.compress_cmd, src, "llama:quick", None, False, 1)
    assert "run `topiclab run llama --profile quick` first" in err
    assert not (tmp_path / "a.txt.tlz").exists()
