"""Result files written whole or not at all: a full disk or a kill never leaves half a page.

    from topiclab.core.files import copy_file, write_text
    write_text(out / "index.md", text)           # temporary in the same folder, then os.replace
    copy_file(stage / "report.html", out / "report.html")

The temporary lives next to the target (``os.replace`` is atomic only within one file system)
and is removed when the write fails. A full disk becomes ``DiskFullError``: one line that names
the folder, instead of an ``OSError`` traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from topiclab.core.errors import DiskFullError


def _replace_with(path: Path, fill: Callable[[Path], object]) -> Path:
    """Let ``fill`` write a temporary beside ``path``, then move it over ``path``."""
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        _disk_full(exc, path)
        raise
    os.close(fd)
    tmp = Path(name)
    try:
        fill(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is for reading
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _disk_full(exc, path)
        raise
    return path


def _disk_full(exc: OSError, path: Path) -> None:
    """Raise ``DiskFullError`` (naming the folder) if ``exc`` is ENOSPC."""
    if exc.errno == errno.ENOSPC:
        raise DiskFullError(
            f"no space left on device in '{path.parent}' (writing {path.name}); "
            "free some space there, or choose another --out"
        ) from None


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return _replace_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return _replace_with(path, lambda tmp: tmp.write_bytes(data))


def copy_file(source: str | Path, path: Path) -> Path:
    """Copy ``source`` to ``path`` atomically."""
    return _replace_with(path, lambda tmp: shutil.copyfile(source, tmp))
