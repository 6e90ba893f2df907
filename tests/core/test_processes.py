"""Worker pools that stop with the run (``core.processes``): a job's error reaches the
caller, leaving the block by an exception does not wait for running jobs, Ctrl-C is the
parent's to handle, and a SIGKILLed parent takes its workers along."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import pool_jobs

from topiclab.core.errors import TopiclabError
from topiclab.core.processes import (
    completed,
    importable,
    useful_workers,
    why_not_in_workers,
    worker_pool,
)

TESTS = Path(__file__).resolve().parents[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers signal 0; it has ended
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(p) for p in pids)


def test_importable_by_a_fresh_process() -> None:
    assert importable(json.JSONDecoder())
    assert not importable(type("Notebook", (), {"__module__": "__main__"})())
    assert not importable(type("Loaded", (), {"__module__": "loaded_from_a_file"})())
    assert why_not_in_workers([json.JSONDecoder()]) is None
    notebook = type("Notebook", (), {"__module__": "__main__"})()
    assert why_not_in_workers([notebook]) == "a new process cannot import Notebook"


def test_what_a_job_holds_must_be_importable_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job of an importable class that holds an object of a class no worker can import
    (a module made at run time, as a notebook's ``__main__`` is to a spawned worker): the
    worker dies unpickling it, and the pool can only say that it ended abruptly; the check
    names the class first."""
    options = pool_jobs.notebook_class(monkeypatch)()
    job = pool_jobs.Logging("a", options={"nested": [options]})
    assert importable(pool_jobs.Logging("a")) and not importable(job)
    assert why_not_in_workers([pool_jobs.pid_after, job]) == "a new process cannot import Options"
    with pytest.raises(TopiclabError, match="ended abruptly"), worker_pool(1) as pool:
        list(completed(pool, pool_jobs.pid_after, [job], [0]))


def test_a_daemonic_process_starts_no_workers() -> None:
    """A Dask worker is daemonic: multiprocessing would refuse to start its children."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=pool_jobs.why_not_here, args=(queue,), daemon=True)
    child.start()
    assert queue.get(timeout=60) == "this is a daemonic process, which may not start processes"
    child.join()


def test_results_come_back_and_a_jobs_error_is_raised() -> None:
    with worker_pool(2) as pool:
        results = dict(completed(pool, pool_jobs.pid_after, [0.0, 0.0, 0.0], [2, 1, 0]))
        assert sorted(results) == [0, 1, 2] and os.getpid() not in results.values()
        assert all(dict(completed(pool, pool_jobs.sigint_ignored, [None, None], [0, 1])).values())
    with pytest.raises(ValueError, match="boom"), worker_pool(1) as pool:
        list(completed(pool, pool_jobs.fail, ["boom"], [0]))


def test_leaving_by_an_exception_ends_running_jobs_at_once() -> None:
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), worker_pool(2) as pool:
        first = next(completed(pool, pool_jobs.pid_after, [0.0, 60.0, 60.0, 60.0], [0, 1, 2, 3]))
        raise KeyboardInterrupt  # Ctrl-C while the other worker is 60 s into its job
    assert time.monotonic() - start < 30  # spawning two workers on a loaded box, not 60 s
    assert gone_within([first[1]], 5)


SCRIPT = """
import sys, time
from support import pool_jobs
from topiclab.core.processes import worker_pool
if __name__ == "__main__":
    with worker_pool(2) as pool:
        futures = [pool.submit(pool_jobs.pid_after, 0.5) for _ in range(2)]
        print(*[f.result() for f in futures], flush=True)   # both workers started
        pool.submit(pool_jobs.pid_after, 600)
        time.sleep(600)
"""


def test_workers_die_with_a_sigkilled_parent(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) >= 1 and all(alive(p) for p in pids)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert gone_within(pids, 10), [p for p in pids if alive(p)]


def test_useful_workers_are_capped_by_jobs_and_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert [useful_workers(8, 3), useful_workers(8, 1), useful_workers(1, 9)] == [2, 1, 1]
    assert useful_workers(2, 0) == 1  # no jobs: one (the serial path), never a pool of 0


def test_a_killed_worker_is_one_clear_error() -> None:
    """An OOM-killed or segfaulted worker: a one-line error that says what may have happened
    and how to see it in this process, not ``BrokenProcessPool``'s 'terminated abruptly'."""
    abruptly = r"worker process ended abruptly.*workers = 1"
    with pytest.raises(TopiclabError, match=abruptly), worker_pool(1) as pool:
        list(completed(pool, pool_jobs.killed, [None, None], [0, 1]))
