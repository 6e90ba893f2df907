"""An advisory inter-process lock on a file (POSIX ``flock``).

    from topiclab.core.locks import file_lock
    with file_lock(folder / ".train.lock", on_wait=lambda: log.info("waiting")):
        ...  # only one process of this machine (or of one NFS-free shared disk) is here

The kernel drops the lock when its process dies, SIGKILL included, so a killed run never
leaves a stale lock behind. Lock files are never deleted: deleting one while another process
waits on it would let two processes in.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing); block until it is free."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()  # say why we stand still before blocking
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
