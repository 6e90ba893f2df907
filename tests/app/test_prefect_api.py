"""Which Prefect server a run uses: PREFECT_API_URL, a running ``topiclab ui``, or its own."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from app.clirun import fresh_env, topiclab, unused_port

from topiclab.app.prefect_api import (
    PrefectApi,
    find_server,
    running_server,
    using,
    wait_healthy,
)
from topiclab.core.errors import TopiclabError
from topiclab.core.locks import is_locked


def fake_prefect(home: str | None) -> type[http.server.BaseHTTPRequestHandler]:
    """Answers /api/health like a Prefect server, and /api/admin/settings with ``home`` as
    its PREFECT_HOME (None: not a Prefect server, 404)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"true"
            if self.path == "/api/admin/settings" and home is not None:
                body = json.dumps({"home": home, "api": {"url": None}}).encode()
            elif self.path != "/api/health":
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def fake_server(home: str | None) -> Iterator[int]:
    """A fake Prefect server of PREFECT_HOME ``home`` on a free port."""
    server = http.server.HTTPServer(("127.0.0.1", 0), fake_prefect(home))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def this_home(monkeypatch, tmp_path: Path) -> Path:
    """A run's home (as ``configure_environment`` sets it); no PREFECT_API_URL."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("TOPICLAB_HOME", str(tmp_path / "mine"))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "mine" / "prefect"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mine' / 'mlflow.db'}")
    (tmp_path / "mine").mkdir()
    return tmp_path / "mine"


def test_a_topiclab_ui_of_this_home_on_the_ui_port_is_reused(monkeypatch, this_home):
    with fake_server(str(this_home / "prefect")) as port:
        monkeypatch.setenv("TOPICLAB_PREFECT_PORT", str(port))
        api = running_server()
    assert api is not None and api.url == f"http://127.0.0.1:{port}/api"
    assert "topiclab ui" in api.describe()
    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", str(unused_port()))
    assert running_server() is None  # nothing there: the run starts its own


def test_a_server_of_another_home_is_passed_over_in_one_line(monkeypatch, this_home, tmp_path):
    """``topiclab ui`` of home A on the port, a run of home B: B's flow run must not land in
    A's database while its MLflow run and results stay in B."""
    other = str(tmp_path / "other" / "prefect")
    with fake_server(other) as port:
        monkeypatch.setenv("TOPICLAB_PREFECT_PORT", str(port))
        found, why = find_server()
        assert found is None
        assert why.startswith(f"not joining the Prefect server on 127.0.0.1:{port}: ")
        assert f"PREFECT_HOME={other}" in why and "\n" not in why
    with fake_server(None) as port:  # healthy, but says nothing of its home
        monkeypatch.setenv("TOPICLAB_PREFECT_PORT", str(port))
        found, why = find_server()
        assert found is None and "does not say its PREFECT_HOME" in why


def test_this_homes_ui_is_found_on_the_port_its_record_names(monkeypatch, this_home):
    """``topiclab ui --prefect-port P`` writes ui.json; a run of that home joins it on P. A
    stale record (its pid dead) or one whose port now serves another home is passed over."""
    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", str(unused_port()))
    with fake_server(str(this_home / "prefect")) as port:
        record(this_home, port, os.getpid())
        api = running_server()
        assert api is not None and api.url == f"http://127.0.0.1:{port}/api"
        record(this_home, port, dead_pid())
        assert running_server() is None
    with fake_server(str(this_home.parent / "other" / "prefect")) as port:
        record(this_home, port, os.getpid())
        found, why = find_server()
        assert found is None and "serves another home" in why


def record(home: Path, port: int, pid: int) -> None:
    """What ``topiclab ui`` writes (``topiclab.core.uis.ui_record``)."""
    payload = {
        "prefect": f"http://127.0.0.1:{port}",
        "mlflow": "http://127.0.0.1:5000",
        "pid": pid,
        "tracking_uri": os.environ["MLFLOW_TRACKING_URI"],
    }
    (home / "ui.json").write_text(json.dumps(payload), encoding="utf-8")


def dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_run_next_to_another_homes_ui_starts_its_own_and_says_why(monkeypatch, this_home):
    import subprocess
    import sys

    from topiclab.app import prefect_api as api

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    monkeypatch.setattr(api, "start_server", lambda log: (proc, "own-url"))
    monkeypatch.setattr(api, "wait_healthy", lambda p, u, log: None)
    monkeypatch.setattr(api, "stop_server", lambda p: None)
    with fake_server(str(this_home.parent / "a" / "prefect")) as port:
        monkeypatch.setenv("TOPICLAB_PREFECT_PORT", str(port))
        with api.prefect_api() as found:
            pass
    proc.wait()
    first, second = found.describe().splitlines()
    assert first.startswith("not joining the Prefect server") and "a/prefect" in first
    assert second.startswith("Prefect: own-url (started for this run")


def test_an_unreachable_prefect_api_url_fails_fast(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{unused_port()}/api")
    start = time.monotonic()
    with pytest.raises(TopiclabError, match="does not answer"):
        running_server()
    assert time.monotonic() - start < 5


@pytest.mark.e2e
def test_run_uses_the_running_server(tmp_path: Path, prefect_harness: str) -> None:
    """The session's server (conftest) is the running one: a server of its own cost this
    test a start-up (~9 s) and tested nothing more."""
    prefect_server = prefect_harness
    env = fresh_env(tmp_path, PREFECT_API_URL=prefect_server)
    start = time.monotonic()
    proc = topiclab(
        "run", "ridge", "--profile", "quick", "--out", str(tmp_path / "out"),
        env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Prefect: {prefect_server} (PREFECT_API_URL)" in proc.stdout
    assert not (Path(env["TOPICLAB_HOME"]) / "logs" / "prefect-server.log").exists()
    print(f"quick ridge run against a running server: {seconds:.1f} s wall")


def test_own_server_sets_up_its_database_under_a_lock(monkeypatch, tmp_path: Path) -> None:
    """Two runs on a fresh home must not migrate one prefect.db at once: the lock is held
    from the server's start until it is healthy (migrated), and released before the run."""
    import subprocess
    import sys

    from topiclab.app import prefect_api as api

    monkeypatch.setenv("TOPICLAB_HOME", str(tmp_path))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", str(unused_port()))
    seen: list[str] = []
    proc = subprocess.Popen([sys.executable, "-c", "pass"])

    def start(log: Path) -> tuple[subprocess.Popen[bytes], str]:
        seen.append("start")
        return proc, "u"

    def wait(p: object, u: str, log: Path) -> None:
        seen.append(f"healthy {is_locked(api.setup_lock())}")

    monkeypatch.setattr(api, "start_server", start)
    monkeypatch.setattr(api, "wait_healthy", wait)
    monkeypatch.setattr(api, "stop_server", lambda p: seen.append("stop"))
    with api.prefect_api(lambda: seen.append("meanwhile")) as found:
        seen.append(f"run {is_locked(api.setup_lock())}")
    assert found.url == "u" and found.pid == proc.pid
    assert seen == ["start", "meanwhile", "healthy True", "run False", "stop"]
    assert api.setup_lock() == tmp_path / "prefect" / ".server-setup.lock"
    proc.wait()


@pytest.mark.parametrize("error", [TopiclabError("store"), KeyboardInterrupt()])
def test_what_runs_while_the_server_starts_stops_it_when_it_fails(
    monkeypatch, tmp_path: Path, error: BaseException
) -> None:
    """The run's own start-up (MLflow's migrations) overlaps the server's; its error or a
    Ctrl-C there passes on unchanged, with the server stopped and never waited for."""
    import subprocess
    import sys

    from topiclab.app import prefect_api as api

    monkeypatch.setenv("TOPICLAB_HOME", str(tmp_path))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", str(unused_port()))
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    seen: list[str] = []

    def fail() -> None:
        raise error

    monkeypatch.setattr(api, "start_server", lambda log: (server, "u"))
    monkeypatch.setattr(api, "wait_healthy", lambda p, u, log: seen.append("waited"))
    monkeypatch.setattr(api, "stop_server", lambda p: (seen.append("stop"), p.kill()))
    with pytest.raises(type(error)) as caught, api.prefect_api(fail):
        seen.append("run")
    assert caught.value is error and seen == ["stop"]
    assert server.wait(timeout=10) != 0 and not is_locked(api.setup_lock())


def test_with_prefect_api_url_set_the_callers_errors_come_first(monkeypatch) -> None:
    """No server to start, nothing to overlap: the store's error comes before an
    unreachable PREFECT_API_URL's, as when the CLI checked the stores first."""
    from topiclab.app import prefect_api as api

    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{unused_port()}/api")

    def fail() -> None:
        raise TopiclabError("store")

    with pytest.raises(TopiclabError, match=r"^store$"), api.prefect_api(fail):
        pass
    with pytest.raises(TopiclabError, match="does not answer"), api.prefect_api():
        pass


def test_a_server_that_died_of_its_database_says_why(monkeypatch, tmp_path: Path) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    log = tmp_path / "prefect-server.log"
    log.write_text(
        "Traceback (most recent call last):\n  ...\n"
        'sqlite3.DatabaseError: malformed database schema (x) - near "(": syntax error\n'
        "\nThe above exception was the direct cause of the following exception:\n  ...\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(TopiclabError) as caught:
        wait_healthy(proc, f"http://127.0.0.1:{unused_port()}/api", log)
    line = str(caught.value)
    assert "\n" not in line and "exited with code 3: sqlite3.DatabaseError: malformed" in line
    assert f"move {tmp_path / 'prefect' / 'prefect.db'} aside to start afresh; see {log}" in line
    log.write_text("something else\n")
    with pytest.raises(TopiclabError, match=r"exited with code 3; see "):
        wait_healthy(proc, f"http://127.0.0.1:{unused_port()}/api", log)


def test_a_server_slow_to_start_names_the_timeout_to_raise(monkeypatch, tmp_path: Path) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "0.3")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(TopiclabError) as caught:
            wait_healthy(proc, f"http://127.0.0.1:{unused_port()}/api", tmp_path / "s.log")
    finally:
        proc.kill()
        proc.wait()
    assert "not healthy after 0.3 s (on a busy machine, set " in str(caught.value)
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher" in str(caught.value)
    # A first start on a fresh home migrates the database before it logs a line: an empty log
    # is said to be empty, not handed over as if it held the cause.
    assert str(caught.value).endswith(f"; it logged nothing yet to {tmp_path / 's.log'}")
    assert "a first start creates its database" in str(caught.value)


def test_threads_see_the_api_a_run_uses(monkeypatch) -> None:
    """A thread reads Prefect's process-wide settings, not the caller's: the one forwarding a
    process pool's logs (``--workers``) started a temporary server of its own without them."""
    from prefect.settings import PREFECT_API_URL

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    before = PREFECT_API_URL.value()
    seen: list[str | None] = []

    def look() -> None:
        thread = threading.Thread(target=lambda: seen.append(PREFECT_API_URL.value()))
        thread.start()
        thread.join()

    with using(PrefectApi("http://127.0.0.1:9/api", "test")):
        look()
    look()
    assert seen == ["http://127.0.0.1:9/api", before]


def test_events_follow_the_server_a_run_points_this_process_at(prefect_harness):
    """Prefect binds a process's events worker to the first server it sent to (keyed by client
    type only), so ``using`` must retire it both ways; else, after a run on another server, this
    process's events (asset materializations) went to that server, stopped by then."""
    from prefect.events.worker import EventsWorker

    before = EventsWorker.instance()
    with using(PrefectApi(prefect_harness, "PREFECT_API_URL")):
        during = EventsWorker.instance()
    after = EventsWorker.instance()
    assert during is not before and after is not during


def test_a_run_on_its_own_server_links_to_where_topiclab_ui_shows_it(monkeypatch):
    """The temporary server is gone after the run: the flow-run link names the UI's port, which
    serves the same database; a lasting server's own address is kept."""
    from topiclab.flows.pipeline import prefect_urls

    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", "4321")
    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    with using(PrefectApi("http://127.0.0.1:39999/api", "own server", pid=1)):
        link = prefect_urls("fr-1")["Prefect flow run"]
    assert link == "http://127.0.0.1:4321/runs/flow-run/fr-1"
    with using(PrefectApi("http://prefect.lan:4200/api", "PREFECT_API_URL")):
        link = prefect_urls("fr-1")["Prefect flow run"]
    assert link == "http://prefect.lan:4200/runs/flow-run/fr-1"
    assert "PREFECT_UI_URL" not in os.environ  # put back as it was


def test_the_link_names_the_port_this_homes_ui_recorded(monkeypatch, this_home):
    """Not 4200 when this home's UI is elsewhere: 4200 may be another home's UI."""
    from topiclab.flows.pipeline import prefect_urls

    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", "4321")
    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    record(this_home, 4567, os.getpid())
    with using(PrefectApi("http://127.0.0.1:39999/api", "own server", pid=1)):
        link = prefect_urls("fr-1")["Prefect flow run"]
    assert link == "http://127.0.0.1:4567/runs/flow-run/fr-1"


def test_serve_and_ui_name_the_home_of_the_server_in_their_way(monkeypatch, this_home, tmp_path):
    from topiclab.app.deploy import ensure_server
    from topiclab.app.servers import local_servers

    other = str(tmp_path / "other" / "prefect")
    with fake_server(other) as port:
        monkeypatch.setenv("TOPICLAB_PREFECT_PORT", str(port))
        with pytest.raises(TopiclabError, match=f"serves another home \\(PREFECT_HOME={other}"):
            ensure_server()
        held = (
            f"in use by a Prefect server of PREFECT_HOME={other}; pick another with --prefect-port"
        )
        with pytest.raises(TopiclabError, match=held), local_servers(port, unused_port()):
            pass


def test_a_run_says_it_starts_a_server_before_waiting_for_it(monkeypatch, tmp_path):
    """A first start on a fresh home can take a minute or more (the database is created): the
    terminal says so at once instead of staying blank until the server answers."""
    import subprocess
    import sys

    from topiclab.app import prefect_api as api

    said: list[str] = []
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("TOPICLAB_PREFECT_PORT", str(unused_port()))
    monkeypatch.setattr(api, "start_server", lambda log: (proc, "own-url"))
    monkeypatch.setattr(api, "wait_healthy", lambda p, u, log: said.append("healthy"))
    monkeypatch.setattr(api, "stop_server", lambda p: None)
    with api.prefect_api(announce=said.append):
        pass
    proc.wait()
    assert len(said) == 2 and said[1] == "healthy", said
    assert said[0].startswith("Prefect: starting a server for this run")
    assert "prefect-server.log" in said[0] and "\n" not in said[0]
