"""Worker processes for the independent jobs of a stage, which stop when the run stops.

    with worker_pool(2, initializer=set_threads, initargs=(1,)) as pool:
        for i, result in completed(pool, run, jobs, order):  # run(jobs[i]) in a worker
            ...

``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method (a forked copy of a
process that holds torch's thread pools, Prefect's event loop and a SQLite connection is not
safe), plus what a run needs around it:

- each worker ignores Ctrl-C: the terminal sends SIGINT to the whole process group, and the
  parent, which gets it too, ends the workers itself (no traceback from each worker);
- each worker dies with its parent (Linux ``PR_SET_PDEATHSIG``), so a SIGKILLed run leaves no
  orphan still training;
- leaving the block by an exception (``KeyboardInterrupt``, the SIGTERM handler's ``Stopped``,
  a job's own error) cancels the jobs not started and terminates the workers instead of
  waiting for the running ones, as the executor's own exit would.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Any, TypeVar

from topiclab.core.errors import TopiclabError

J = TypeVar("J")
R = TypeVar("R")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with(parent: int) -> None:
    """From now on this process gets SIGTERM when ``parent``'s thread that started it ends
    (Linux; elsewhere nothing); exits at once if ``parent`` is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def _start_worker(parent: int, initializer: Callable[..., None] | None, args: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with(parent)
    # A worker leaves once every result is sent; tearing down an interpreter that holds torch
    # takes 1–2 s, which the pool's shutdown would wait for. The last exit handler ends it
    # (the first registered runs last: the libraries' run before it; multiprocessing has
    # flushed stdout and stderr by then).
    atexit.register(os._exit, 0)
    if initializer is not None:
        initializer(*args)


@contextlib.contextmanager
def worker_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()
) -> Iterator[ProcessPoolExecutor]:
    """A spawn-context pool of ``workers`` processes (module docstring); ``initializer`` runs
    once in each (it and the jobs must be importable, module-level functions)."""
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), initializer, initargs),
    )
    try:
        yield pool
    except BaseException:
        _terminate(pool)
        raise
    pool.shutdown(wait=True)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Cancel the jobs not started and SIGTERM the workers, without waiting for the running
    jobs (Python 3.14 has ``terminate_workers()``; before it the processes are reachable only
    this way, and only before ``shutdown``, which forgets them)."""
    if hasattr(pool, "terminate_workers"):  # pragma: no cover - Python ≥ 3.14
        pool.terminate_workers()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(timeout=5)


class _Globals(pickle.Pickler):
    """Pickles into nothing, noting the ``(module, qualname)`` of every class and function
    met on the way: what unpickling the object in a worker imports by name."""

    def __init__(self) -> None:
        super().__init__(_Discard())
        self.found: set[tuple[str, str]] = set()

    def reducer_override(self, obj: Any) -> Any:
        # A builtin bound to an object (``{}.get``) is pickled as getattr(object, name).
        bound = isinstance(obj, BuiltinFunctionType) and not isinstance(obj.__self__, ModuleType)
        module = getattr(obj, "__module__", None)
        if isinstance(obj, type | FunctionType | BuiltinFunctionType) and module and not bound:
            self.found.add((module, getattr(obj, "__qualname__", obj.__name__)))
        return NotImplemented  # pickled as usual


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def unimportable(objects: Iterable[object]) -> list[str]:
    """The classes and functions that pickling ``objects`` names and a spawned worker
    (started with this process's ``sys.path``) cannot import by name, as unpickling them
    there does: those of ``__main__`` (a notebook's, a script's) or of a module imported from
    a file under another name (such as pytest's ``--import-mode=importlib`` test modules).
    Those met before a pickling error count; the error itself is the pool's to report."""
    found: set[tuple[str, str]] = set()
    for obj in objects:
        pickler = _Globals()
        with contextlib.suppress(Exception):
            pickler.dump(obj)
        found |= pickler.found
    bad = {module for module, _ in found if not _importable_module(module)}
    return sorted({name for module, name in found if module in bad})


def importable(obj: object) -> bool:
    """Whether a spawned worker can unpickle ``obj`` (every class and function it holds)."""
    return not unimportable([obj])


def _importable_module(module: str) -> bool:
    if module == "__main__" or module not in sys.modules:
        return False
    top = module.split(".")[0]
    # The import system's finders (sys.path, an editable install's finder), not sys.modules.
    finders = [getattr(f, "find_spec", None) for f in sys.meta_path]
    return any(find is not None and find(top, None) is not None for find in finders)


def useful_workers(asked: int, jobs: int) -> int:
    """How many of ``asked`` CPU-bound workers help with ``jobs`` jobs: no more than the jobs
    or the cores this process may run on (more only add memory: each imports torch)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(asked, jobs, cores or 1))


def why_not_in_workers(objects: Iterable[object]) -> str | None:
    """Why ``objects`` (the jobs, and the function that runs them) cannot be sent to a
    ``worker_pool`` from this process, or None: a daemonic process (a Dask worker's) may not
    start processes, and a worker must be able to import every class and function they hold
    (``unimportable``; else it dies unpickling its job, and the pool can only say that it
    ended abruptly)."""
    if multiprocessing.current_process().daemon:
        return "this is a daemonic process, which may not start processes"
    strays = unimportable(objects)
    return f"a new process cannot import {', '.join(strays)}" if strays else None


def completed(
    pool: ProcessPoolExecutor, run: Callable[[J], R], jobs: list[J], order: Iterable[int]
) -> Iterator[tuple[int, R]]:
    """``run(jobs[i])`` for every ``i`` of ``order`` (submitted in that order: put the longest
    first), and each ``(i, result)`` as it finishes; a job's exception is raised here."""
    futures: dict[Future[R], int] = {pool.submit(run, jobs[i]): i for i in order}
    for done, future in enumerate(as_completed(futures)):
        try:
            result = future.result()
        except BrokenProcessPool as exc:
            # No traceback came back (the OOM killer's SIGKILL, a segfault, a worker that
            # could not start); the executor's own message does not say what to try.
            raise TopiclabError(
                f"a worker process ended abruptly with {len(futures) - done} of {len(futures)} "
                "jobs unfinished: killed (out of memory?), crashed in native code, or failed "
                "to start (its error is above; a script must start the run under "
                "`if __name__ == '__main__':`); with workers = 1 the jobs run in this process"
            ) from exc
        yield futures[future], result
