"""``compress``/``decompress`` output paths: never the input itself, a missing or unwritable
folder in one line, and an empty input's rate shown as n/a (no model: each call is quick)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from topiclab.plugins.compression import cli


def refusal(capsys: pytest.CaptureFixture[str], fn, *args, **kwargs) -> str:
    with pytest.raises(typer.Exit) as e:
        fn(*args, **kwargs)
    assert e.value.exit_code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("force", [False, True])
def test_output_that_is_the_input_is_refused(tmp_path: Path, capsys, force: bool) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(b"the original")
    link = tmp_path / "link.txt"
    link.symlink_to(src)
    for out in (src, link, tmp_path / "." / "a.txt"):
        err = refusal(capsys, cli.compress_cmd, src, "llama:quick", out, force, 1, online=True)
        assert "same file" in err
        err = refusal(capsys, cli.decompress_cmd, src, "llama:quick", out, force)
        assert "same file" in err
    assert src.read_bytes() == b"the original"


def test_missing_or_unwritable_output_folder_is_one_line(tmp_path: Path, capsys) -> None:
    src = tmp_path / "ok"
    src.write_bytes(b"some text to compress")
    out = tmp_path / "no" / "such" / "x.tlz"
    assert str(out.parent) in refusal(capsys, cli.compress_cmd, src, "m", out, False, 1, True)
    cli.compress_cmd(src, "no-model-needed", None, False, 1, online=True)
    tlz = tmp_path / "ok.tlz"
    capsys.readouterr()
    assert "/proc/x" in refusal(capsys, cli.decompress_cmd, tlz, "m", Path("/proc/x"), False)


def test_empty_input_rate_is_not_a_percentage(tmp_path: Path, capsys) -> None:
    src = tmp_path / "empty"
    src.write_bytes(b"")
    cli.compress_cmd(src, "no-model-needed", None, False, 1, online=True)
    line = capsys.readouterr().out
    assert "0 -> " in line and "n/a" in line and "%" not in line, line
    out = tmp_path / "back"
    cli.decompress_cmd(tmp_path / "empty.tlz", "no-model-needed", out, False)
    assert out.read_bytes() == b""
