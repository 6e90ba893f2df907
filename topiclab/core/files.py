"""Result files written whole or not at all: a full disk or a kill never leaves half a page.

    from topiclab.core.files import copy_file, copy_tree, write_text
    write_text(out / "index.md", text)           # temporary in the same folder, then os.replace
    copy_file(stage / "report.html", out / "report.html")
    copy_tree(stage / "figures", out / "figures")  # a whole folder, then swapped in

The temporary lives next to the target (``os.replace`` is atomic only within one file system)
and is removed when the write fails. A full disk becomes ``DiskFullError``: one line that names
the folder, instead of an ``OSError`` traceback.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
import uuid
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


def copy_tree(source: str | Path, path: Path) -> Path:
    """Replace the folder ``path`` with a copy of ``source``: the copy is made whole in a hidden
    temporary beside ``path`` and renamed in, so an interrupted copy leaves the previous folder
    (or none), never a half one. A new copy replaces the old folder, files it lacks included."""
    if not Path(source).is_dir():  # else rglob finds nothing and an empty folder replaces path
        raise FileNotFoundError(errno.ENOENT, "no folder to copy", str(source))
    try:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    except OSError as exc:
        _disk_full(exc, path)
        raise
    try:
        for src in sorted(Path(source).rglob("*")):
            dst = tmp / src.relative_to(source)
            if src.is_dir():
                dst.mkdir(exist_ok=True)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a report is for reading
        _swap_in(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            _disk_full(exc, path)
        raise
    return path


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``. An existing ``path`` is exchanged with ``tmp`` in one step
    where the kernel can (Linux ``renameat2(RENAME_EXCHANGE)``); elsewhere it is moved aside
    first (a folder cannot be renamed over one that has files), put back if the rename fails,
    and removed after."""
    if not path.exists():
        os.replace(tmp, path)
    elif _exchange(tmp, path):
        _remove(tmp)  # now what path was: a folder, or a file or link in the way
    else:
        old = path.with_name(f".{path.name}.{uuid.uuid4().hex}.old")
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(old, path)
            raise
        _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux 3.15+); False where the call or the file system
    does not support it."""
    rename_exchange, at_fdcwd = 2, -100
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
