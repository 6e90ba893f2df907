"""Library noise goes to a log file under ``$TOPICLAB_HOME/logs``, not to the terminal.

    with library_log(new_log_path("run")) as path:
        topic_pipeline(...)          # Prefect's and MLflow's log lines, warnings -> path
    print(f"log: {path}")

What moves: every console handler of the logging tree (Prefect's flow/task-run lines, its
server hints, MLflow's INFO/WARNING lines such as the pickle warning), Python warnings, and
MLflow's ``eprint`` ("Successfully registered model ..."), which writes to ``sys.stderr``
behind logging's back. What stays on the terminal: the CLI's own lines and progress bars, plus
one line per finished stage, echoed from the flow's log, and the lines a task marks for it
(``core.console.TERMINAL``: a stage waiting for another run). Everything is restored at exit.
The worker processes of a run of several topics (``--workers``) do the same, into the same
file and onto the same terminal (``worker_log``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from topiclab.core import console as core_console
from topiclab.core.console import TERMINAL
from topiclab.core.environment import topiclab_home

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
FLOW_RUNS, TASK_RUNS = "prefect.flow_runs", "prefect.task_runs"  # Prefect's run loggers


def new_log_path(kind: str) -> Path:
    folder = topiclab_home() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"


class StageEcho(logging.Handler):
    """Echo the flow's "stage <name> done" lines, so the terminal still shows progress, and
    any line marked ``TERMINAL`` (a stage waiting for another run's lock)."""

    def __init__(self, console: Any) -> None:
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        flow_line = record.name == FLOW_RUNS and str(record.msg).startswith("stage ")
        if flow_line or getattr(record, TERMINAL, False):
            name = getattr(record, "flow_run_name", "") or ""
            self.console.print(f"  {name}: {record.getMessage()}", highlight=False)


def _console_handlers() -> list[tuple[logging.Logger, logging.Handler]]:
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    return [
        (lg, h)
        for lg in loggers
        for h in lg.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


@contextmanager
def library_log(path: Path, console: Any = None) -> Iterator[Path]:
    """Redirect the libraries' console output to ``path`` while the block runs."""
    with suppress(ImportError):  # configure their loggers now, so that they are redirected
        import mlflow  # noqa: F401
        import prefect  # noqa: F401
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    swapped = _console_handlers()
    for lg, h in swapped:
        lg.removeHandler(h)
        if handler not in lg.handlers:
            lg.addHandler(handler)
    echo = StageEcho(console) if console is not None else None
    run_loggers = [logging.getLogger(name) for name in (FLOW_RUNS, TASK_RUNS)]
    if echo is not None:
        for lg in run_loggers:
            lg.addHandler(echo)
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.addHandler(handler)
    restore_eprint = _redirect_mlflow_eprint(handler)
    workers = core_console.worker_setup
    core_console.worker_setup = (worker_log, (str(path), console is not None))
    try:
        yield path
    finally:
        core_console.worker_setup = workers
        restore_eprint()
        warnings_logger.removeHandler(handler)
        logging.captureWarnings(False)
        if echo is not None:
            for lg in run_loggers:
                lg.removeHandler(echo)
        for lg, h in swapped:
            lg.removeHandler(handler)
            lg.addHandler(h)
        handler.close()


_worker_log: ExitStack | None = None  # a worker's redirection, for the process's life


def worker_log(path: str, echo: bool) -> None:
    """The start of a worker process of a run (``core.console.worker_setup``): its library
    lines are appended to the run's log file ``path`` and its stage lines echoed (``echo``) to
    the terminal, as the run's own are. Each line is one write (to a file opened for
    appending, or to stderr), so lines of several processes never cut into each other; no
    progress bars, which redraw their line and would (those of the other workers too)."""
    from prefect.logging.configuration import ensure_logging_setup

    global _worker_log
    if _worker_log is None:
        os.environ["TOPICLAB_NO_PROGRESS"] = "1"
        # A new worker has imported prefect without configuring its logging yet: done later
        # (a task's context), it would replace and close the handlers set here.
        ensure_logging_setup()
        _worker_log = ExitStack()
        _worker_log.enter_context(library_log(Path(path), core_console.console if echo else None))


def _redirect_mlflow_eprint(handler: logging.FileHandler) -> Any:
    """MLflow's ``eprint`` writes to a stream object that forwards to ``sys.stderr``."""
    try:
        from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM as stream
    except ImportError:
        return lambda: None
    target: Any = handler.stream
    patched: Any = stream
    patched.write = target.write  # instance attributes shadow the class's methods
    patched.flush = target.flush

    def restore() -> None:
        for name in ("write", "flush"):
            with suppress(AttributeError):
                delattr(stream, name)

    return restore
