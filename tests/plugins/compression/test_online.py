"""The online mode (no pretrained weights): lossless on awkward inputs, the decoder's replayed
training stays bit-identical (also in a fresh process, with no model), the model learns as it
codes, and a damaged recipe is refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from topiclab.nn.online_codec import Recipe, blocks, decode_online, encode_online
from topiclab.plugins.compression import cli
from topiclab.plugins.compression.container import FormatError, pack, unpack
from topiclab.plugins.compression.lm import compress_online, decompress_bytes

from .test_lm import REPO, TEXT

TINY = Recipe(
    dim=16, n_layers=1, n_heads=2, n_kv_heads=1, window=16, block=512, row=128, steps=3, batch=4
)


@pytest.mark.parametrize(
    "data",
    [b"", b"x", TEXT[:1500], bytes(np.random.default_rng(0).integers(0, 256, 700, np.uint8))],
    ids=["empty", "one", "text", "binary"],
)
def test_round_trip(data: bytes) -> None:
    blob, _, _ = compress_online(data, recipe=TINY)
    assert decompress_bytes(None, blob) == data


def test_blocks_grow_then_stay_and_sum_to_the_length() -> None:
    assert blocks(5000, Recipe(block=2048)) == [1024, 2048, 1928]
    assert blocks(0, Recipe()) == []


def test_training_lowers_the_code_length() -> None:
    # The same 3 KB of repetitive text: with training the later blocks cost less.
    data = TEXT[:3000]
    fast = replace(TINY, steps=30, lr=1e-2)
    _, trained = encode_online(data, fast)
    _, frozen = encode_online(data, replace(TINY, steps=0))
    assert trained < 0.8 * frozen


def test_a_different_recipe_does_not_decode() -> None:
    code, _ = encode_online(TEXT[:1200], TINY)
    assert decode_online(code.data, 1200, TINY) == TEXT[:1200]
    assert decode_online(code.data, 1200, replace(TINY, seed=1)) != TEXT[:1200]


def test_decodes_in_a_fresh_process(tmp_path) -> None:
    # 1,300 bytes = 3 blocks: the decoder in another process replays two trainings exactly.
    tlz = tmp_path / "a.tlz"
    tlz.write_bytes(compress_online(TEXT[:1300], recipe=TINY)[0])
    code = (
        "import sys; from pathlib import Path; "
        "from topiclab.plugins.compression.lm import decompress_bytes; "
        "sys.stdout.buffer.write(decompress_bytes(None, Path(sys.argv[1]).read_bytes()))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tlz)], env=env, capture_output=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == TEXT[:1300]


def test_cli_online_needs_no_model(tmp_path, capsys) -> None:
    src = tmp_path / "play.txt"
    src.write_bytes(TEXT[:300])  # one block: no training to replay, the CLI path only
    cli.compress_cmd(src, "no-model-needed", None, False, 1, online=True)
    assert "bits/byte" in capsys.readouterr().out
    out = tmp_path / "copy.txt"
    cli.decompress_cmd(tmp_path / "play.txt.tlz", "no-such-model", out, False)
    assert out.read_bytes() == src.read_bytes()


def test_damaged_recipe_is_one_line() -> None:
    # A recipe no encoder could have used, in a header whose checksum is right (a forged or
    # buggy file, not a flipped bit, which the checksum refuses first): one line, no crash.
    blob, _, _ = compress_online(TEXT[:300], recipe=TINY)
    header, codes = unpack(blob)
    for bad in ({"dim": 0}, {"row": 1 << 17}, {"lr": float("nan")}, {"lr": 2.0}, {"batch": 0},
                {"n_heads": 3}):  # fmt: skip
        damaged = pack(replace(header, online=header.online | bad), codes)
        with pytest.raises(FormatError, match="corrupt") as e:
            decompress_bytes(None, damaged)
        assert "\n" not in str(e.value)


def test_one_stream_costs_less_than_one_code_per_row() -> None:
    # 1,500 bytes = 13 rows of 128: one stream pays its end once, and the container lists no
    # row: the file is at most the prequential ideal + 0.5 % + the header and a few bytes.
    data = TEXT[:1500]
    blob, sizes, ideal = compress_online(data, recipe=TINY)
    assert len(sizes) == 1
    header_bytes = len(blob) - sizes[0]
    assert header_bytes <= 100, header_bytes
    assert 8 * sizes[0] <= ideal * 1.005 + 40
