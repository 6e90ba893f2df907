"""The ``.tlz`` container (format 3): compact, and every damage refused in one line: a cut at
any byte, a byte too many, any flipped header byte, another version, a value out of range."""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib

import pytest

from topiclab.nn.online_codec import Recipe
from topiclab.plugins.compression.container import (
    ONLINE,
    RECIPE,
    FormatError,
    Header,
    pack,
    sha256,
    unpack,
    varint,
)

DATA = b"x" * 5000
MODEL = Header("ab" * 32, {"kind": "byte"}, 5000, sha256(DATA), 2, 2048, 256, 0)
ONLINE_HEADER = Header(ONLINE, {"kind": "byte"}, 5000, sha256(DATA), 1, online=Recipe().to_dict())
CODES = [b"\x01" * 700, b"\x02" * 300, b"\x03" * 200]  # 3 chunks of 2048, 2048, 904 bytes


def forge(blob: bytes, at: int, new: bytes) -> bytes:
    """``blob`` with bytes from ``at`` replaced inside the header, its checksum made right."""
    crc_at = len(blob) - sum(map(len, CODES)) - 4
    head = blob[:at] + new + blob[at + len(new) : crc_at]
    return head + struct.pack(">I", zlib.crc32(head)) + blob[crc_at + 4 :]


def test_round_trips_both_kinds() -> None:
    assert unpack(pack(MODEL, CODES)) == (MODEL, CODES)
    assert unpack(pack(ONLINE_HEADER, [b"\x07" * 900])) == (ONLINE_HEADER, [b"\x07" * 900])
    empty = dataclasses.replace(MODEL, length=0, sha256=sha256(b""))
    assert unpack(pack(empty, [])) == (empty, [])


def test_the_header_is_compact() -> None:
    # Magic, version, flags, tokenizer, length, SHA-256, threads, recipe, stream size, CRC:
    # 70 bytes for the default recipe, where version 2's JSON header alone took ~400.
    online = pack(ONLINE_HEADER, [b"\x07" * 900])
    assert len(online) - 900 <= 72
    model = pack(MODEL, CODES)  # + the model's hash and 2 bytes per chunk's code size
    assert len(model) - sum(map(len, CODES)) <= 48 + 32 + 4 + 2 * len(CODES)


def test_every_cut_and_an_extra_byte_are_refused() -> None:
    for header, codes in ((MODEL, CODES), (ONLINE_HEADER, [b"\x07" * 90])):
        blob = pack(header, codes)
        for i in range(len(blob)):
            with pytest.raises(FormatError, match=r"truncated|magic"):
                unpack(blob[:i])
        with pytest.raises(FormatError, match="truncated"):
            unpack(blob + b"\x00")


def test_every_flipped_header_byte_is_refused() -> None:
    blob = pack(MODEL, CODES)
    for i in range(len(blob) - sum(map(len, CODES))):
        for bit in (0x01, 0x80):
            damaged = blob[:i] + bytes([blob[i] ^ bit]) + blob[i + 1 :]
            with pytest.raises(FormatError) as e:
                unpack(damaged)
            assert "\n" not in str(e.value)


def test_other_versions_and_foreign_files() -> None:
    blob = pack(MODEL, CODES)
    with pytest.raises(FormatError, match="format version 2; this topiclab reads version 3"):
        old = json.dumps({"length": 3}).encode()  # a version-2 file: JSON after the length
        unpack(b"TLZ\x00" + struct.pack(">HI", 2, len(old)) + old)
    with pytest.raises(FormatError, match="magic"):
        unpack(b"\x1f\x8b" + blob[2:])  # gzip's magic


def test_values_out_of_range_with_a_right_checksum() -> None:
    blob = pack(MODEL, CODES)
    with pytest.raises(FormatError, match="flags 2"):
        unpack(forge(blob, 6, b"\x02"))
    with pytest.raises(FormatError, match="tokenizer code 5"):
        unpack(forge(blob, 7, b"\x05"))
    at_threads = 8 + len(varint(5000)) + 32
    with pytest.raises(FormatError, match="out of range"):
        unpack(forge(blob, at_threads, b"\x00"))  # 0 threads
    with pytest.raises(FormatError, match=r"runs on|out of range"):
        unpack(forge(blob, at_threads, b"\xff" * 9))  # a varint that never ends


def test_the_recipe_schema_is_the_recipes_fields() -> None:
    assert [name for name, _ in RECIPE] == [f.name for f in dataclasses.fields(Recipe)]
    with pytest.raises(ValueError, match="fields"):
        pack(dataclasses.replace(ONLINE_HEADER, online={"dim": 64}), [b""])
