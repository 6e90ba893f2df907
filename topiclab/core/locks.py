"""An advisory inter-process lock on a file (POSIX ``flock``).

    from topiclab.core.locks import file_lock, try_lock, is_locked
    with file_lock(folder / ".train.lock", on_wait=lambda: log.info("waiting")):
        ...  # only one process of this machine (or of one NFS-free shared disk) is here
    with file_lock(folder / ".train.lock", shared=True):
        ...  # any number of readers, while nobody holds it exclusively
    with try_lock(folder / ".train.lock") as held:   # never waits: False if someone holds it
        ...
    is_locked(folder / ".train.lock")   # does anyone hold it now? (takes no lock itself)

The kernel drops the lock when its process dies, SIGKILL included, so a killed run never
leaves a stale lock behind. A lock file may be deleted only by a process that holds it
(``topiclab cache clean`` removes a stage's folder that way): whoever was waiting on the
deleted file finds, once it gets it, that the path no longer names that file, and locks the
path again, so two processes are never in at once.

A shared lock in a folder this process cannot write (a read-only mount, another user's
cache) opens the lock file read-only. Where that file is missing (a copy made without the lock
files) it cannot be made, so the shared lock is skipped: readers then do not see a process
that can write there (another mount, the owner) recompute or clean the stage meanwhile.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


@contextmanager
def file_lock(
    path: Path, on_wait: Callable[[], None] | None = None, shared: bool = False
) -> Iterator[None]:
    """Hold an exclusive (or ``shared``) lock on ``path`` (created if missing); block until
    it is free (for a shared lock: until nobody holds it exclusively)."""
    fd = _acquire(path, blocking=True, on_wait=on_wait, create_parents=True, shared=shared)
    assert fd is not None  # a blocking acquire returns only with the lock
    try:
        yield
    finally:
        if fd != NO_FILE:
            os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` if it is free (True), else yield False at once.
    The folder is not created: a missing one means nothing is there to guard."""
    try:
        fd = _acquire(path, blocking=False, on_wait=None, create_parents=False, shared=False)
    except FileNotFoundError:
        fd = None
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


def is_locked(path: Path) -> bool:
    """Whether a process holds ``path``'s lock now, shared or exclusive. It asks the kernel's
    table of locks (Linux ``/proc/locks``), so that it never takes the lock itself: a run or
    a clean trying it at that moment would think it busy. Elsewhere it tries the lock."""
    try:
        there = os.stat(path)
    except OSError:
        return False
    held = _held_files()
    if held is not None:
        return any((dev, there.st_ino) in held for dev in _devices(path, there))
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _held_files() -> set[tuple[int, int]] | None:
    """``(st_dev, st_ino)`` of every file some process holds a lock on, from ``/proc/locks``
    (``1: FLOCK ADVISORY WRITE 8132 fe:00:5794230 0 EOF``; a waiter's line has ``->`` after
    the number); None where that table cannot be read."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    held = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            held.add((os.makedev(int(major, 16), int(minor, 16)), int(inode)))
        except ValueError:  # not a line of this format
            continue
    return held


def _devices(path: Path, there: os.stat_result) -> set[int]:
    """The devices ``/proc/locks`` may name for the file: its ``st_dev``, and its folder's.
    On overlayfs a lower layer's file on another filesystem reports a device of overlayfs's
    own making, while the lock is on the overlay's, which its folders report."""
    devices = {there.st_dev}
    with suppress(OSError):
        devices.add(os.stat(path.parent).st_dev)
    return devices


#: What ``_acquire`` returns for a shared lock whose file is missing and cannot be created.
NO_FILE = -1


def _acquire(
    path: Path,
    blocking: bool,
    on_wait: Callable[[], None] | None,
    create_parents: bool,
    shared: bool,
) -> int | None:
    """A descriptor holding the lock of the file ``path`` names now, ``NO_FILE`` (module
    doc), or None (non-blocking, held by another process)."""
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    while True:
        try:
            fd = _open(path, create_parents, shared)
        except FileNotFoundError:
            if not create_parents:
                raise
            continue  # the folder was removed between mkdir and open: make it again
        if fd == NO_FILE:
            return fd
        try:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if not blocking:
                    os.close(fd)
                    return None
                if on_wait is not None:
                    on_wait()  # say why we stand still before blocking
                    on_wait = None
                fcntl.flock(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        if _names(path, fd):
            return fd
        os.close(fd)  # deleted by its holder while we waited: lock the file there now


def _open(path: Path, create_parents: bool, shared: bool) -> int:
    """The lock file, created (its folder too, with ``create_parents``) if missing. Where
    nothing can be written, a shared lock opens it read-only (flock needs no write access,
    so a read-only cache's readers still share it), or gets ``NO_FILE`` if it is missing."""
    try:
        if create_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if not shared or exc.errno not in (errno.EROFS, errno.EACCES):
            raise
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # its folder too, maybe: none can be made here (module doc)
        return NO_FILE


def _names(path: Path, fd: int) -> bool:
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)
