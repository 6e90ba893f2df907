"""Which process owns an MLflow run, and closing runs whose owner died without closing them.

    tags = owner_tags()                      # {"topiclab.pid": ..., "topiclab.host": ..., ...}
    close_dead_runs(client, experiment_ids)  # RUNNING runs of dead owners on this host -> KILLED

A SIGKILLed run cannot close itself; the next start on the same host does it. A PID can be
reused, so the owner's start time (``/proc``) is recorded too and must match.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

PID, HOST, STARTED = "topiclab.pid", "topiclab.host", "topiclab.pid_started"


def process_started(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot ("" where /proc is missing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ")" may hold spaces


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def owner_tags(pid: int | None = None, host: str | None = None) -> dict[str, str]:
    pid = pid or os.getpid()
    return {
        PID: str(pid),
        HOST: host or socket.gethostname(),
        STARTED: process_started(pid),
    }


def owner_alive(pid: int, started: str) -> bool:
    """False only when we know the owner is gone: no such process, a zombie, or another
    process now holding its PID."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    now = process_started(pid)
    return not (_zombie(pid) or (started and now and now != started))


def close_dead_runs(client: Any, experiment_ids: list[str], host: str) -> list[str]:
    """Mark RUNNING runs of dead owners on ``host`` as KILLED; return their ids."""
    if not experiment_ids:
        return []
    found = client.search_runs(
        experiment_ids,
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST}` = '{host}'",
        max_results=500,
    )
    closed = []
    for run in found:
        tags = run.data.tags
        pid = int(tags.get(PID, "0") or 0)
        if owner_alive(pid, tags.get(STARTED, "")):
            continue
        client.set_tag(run.info.run_id, "error", f"killed: owner process {pid} on {host} died")
        client.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    return closed
