"""``topiclab compress FILE --model M`` and ``topiclab decompress FILE.tlz --model M``.

    topiclab compress play.txt --model llama.pt              # play.txt.tlz, then a summary
    topiclab decompress play.txt.tlz --model llama.pt -o copy.txt
    topiclab compress play.txt --online                      # no model; decompress needs none

Every refusal is one line on stderr with exit status 2, and nothing is written: a wrong model,
a truncated, corrupt or foreign file, a version mismatch, an output that is the input itself,
is in a missing folder or cannot be written, or one that exists without
``--force``. The output is written to a temporary name and renamed only once it is complete.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from topiclab.core.files import write_bytes

SUFFIX = ".tlz"


def refuse(message: str) -> None:
    print(f"topiclab: {message}", file=sys.stderr)
    raise typer.Exit(2)


def _check_output(file: Path, out: Path, force: bool) -> None:
    """Refuse, before any work, an output that is the input itself, has no folder, or exists."""
    if out.exists() and os.path.samefile(file, out):  # also through a symlink or ``./``
        refuse(f"{out} is the same file as the input {file}; choose another -o")
    if not out.parent.is_dir():
        refuse(f"cannot write {out}: folder {out.parent} does not exist")
    if out.exists() and not force:
        refuse(f"{out} exists; pass --force to overwrite it")


def _write(path: Path, data: bytes, force: bool) -> None:
    if path.exists() and not force:
        refuse(f"{path} exists; pass --force to overwrite it")
    try:
        write_bytes(path, data)  # a temporary beside it, then renamed: never half a file
    except OSError as e:  # a read-only folder, /proc: the user's path, not our bug
        refuse(f"cannot write {path}: {e.strerror or type(e).__name__}")


@contextmanager
def _bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    from rich.progress import Progress

    with Progress(transient=True, disable=bool(os.environ.get("TOPICLAB_NO_PROGRESS"))) as p:
        task = p.add_task(label, total=max(1, total))
        yield lambda steps: p.update(task, advance=steps)


def _model(spec: str) -> Any:
    from topiclab.plugins.compression.container import FormatError
    from topiclab.plugins.compression.lm import load_model, resolve_model

    try:
        path = resolve_model(spec)
    except FormatError as e:
        refuse(str(e))
    if not path.exists():
        refuse(f"model {path} not found")
    try:
        return load_model(path)
    except FormatError as e:
        refuse(str(e))
    except Exception as e:  # a file torch cannot read is the user's input, not our bug
        refuse(f"cannot load model {path}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")


def _encode(file: Path, model: str, online: bool, threads: int) -> tuple[bytes, bytes]:
    """The original bytes and the .tlz bytes, with a progress bar."""
    from topiclab.nn.lm_codec import BATCH, total_steps
    from topiclab.nn.online_codec import Recipe, steps_total
    from topiclab.plugins.compression.lm import CHUNK, compress_bytes, compress_online

    net = None if online else _model(model)
    data = file.read_bytes()
    if online:
        with _bar("compressing (online)", steps_total(len(data), Recipe())) as bar:
            return data, compress_online(data, threads, progress=bar)[0]
    lengths = [min(CHUNK, len(data) - i) for i in range(0, len(data), CHUNK)]
    with _bar("compressing", total_steps(lengths, BATCH)) as bar:
        return data, compress_bytes(net, data, threads=threads, progress=bar)


def compress_cmd(
    file: Path, model: str, output: Path | None, force: bool, threads: int, online: bool = False
) -> None:
    if not file.is_file():
        refuse(f"{file} is not a file")
    out = output or file.with_name(file.name + SUFFIX)
    _check_output(file, out, force)
    t0 = time.perf_counter()
    data, blob = _encode(file, model, online, threads)
    seconds = time.perf_counter() - t0
    _write(out, blob, force)
    # An empty input has no rate: the header alone is not "30900 %" of nothing.
    rate = (
        f"{100 * len(blob) / len(data):.1f} %, {8 * len(blob) / len(data):.3f} bits/byte"
        if data
        else "rate n/a for an empty input"
    )
    print(
        f"{file} -> {out}: {len(data)} -> {len(blob)} bytes ({rate}), "
        f"{len(data) / 1e3 / max(seconds, 1e-9):.1f} KB/s"
    )


def _steps(header: Any) -> int:
    from topiclab.nn.lm_codec import total_steps
    from topiclab.nn.online_codec import steps_total
    from topiclab.plugins.compression.lm import chunk_lengths, online_recipe

    if header.online:
        return steps_total(header.length, online_recipe(header))
    return total_steps(chunk_lengths(header), header.batch)


def decompress_cmd(file: Path, model: str, output: Path | None, force: bool) -> None:
    from topiclab.plugins.compression.container import FormatError, unpack
    from topiclab.plugins.compression.lm import decompress_bytes

    if not file.is_file():
        refuse(f"{file} is not a file")
    out = output or (
        file.with_suffix("") if file.suffix == SUFFIX else file.with_name(file.name + ".out")
    )
    _check_output(file, out, force)
    blob = file.read_bytes()
    try:
        header, _ = unpack(blob)  # refuse a foreign file before loading a model
        net = None if header.online else _model(model)
        t0 = time.perf_counter()
        with _bar("decompressing", _steps(header)) as bar:
            data = decompress_bytes(net, blob, progress=bar)
    except FormatError as e:
        refuse(f"{file}: {e}")
    seconds = time.perf_counter() - t0
    _write(out, data, force)
    print(
        f"{file} -> {out}: {len(data)} bytes, SHA-256 checked, "
        f"{len(data) / 1e3 / max(seconds, 1e-9):.1f} KB/s"
    )


def register(cli: Any) -> None:
    @cli.command()
    def compress(
        file: Path,
        model: str = typer.Option(
            "llama", help="llama[:PROFILE] (the llama topic's model), a llama.pt or an HF folder"
        ),
        output: Path | None = typer.Option(None, "-o", "--output"),
        force: bool = typer.Option(False, help="overwrite an existing output"),
        threads: int = typer.Option(1, min=1, max=256, help="torch threads (in the header)"),
        online: bool = typer.Option(
            False, help="no model: train a small one as it codes (the decoder replays it)"
        ),
    ) -> None:
        """Compress FILE with a language model and arithmetic coding (FILE.tlz)."""
        compress_cmd(file, model, output, force, threads, online)

    @cli.command()
    def decompress(
        file: Path,
        model: str = typer.Option("llama", help="the model FILE was compressed with"),
        output: Path | None = typer.Option(None, "-o", "--output"),
        force: bool = typer.Option(False, help="overwrite an existing output"),
    ) -> None:
        """Restore a .tlz file; refuses a wrong model or a damaged file in one line."""
        decompress_cmd(file, model, output, force)
