"""Deployments served by ``topiclab serve``: what a run triggered from the Prefect UI sees."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from app.clirun import unused_port

from topiclab.app import deploy
from topiclab.core.environment import topiclab_home


def test_ui_runs_work_under_topiclab_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Flow runs of ``serve`` inherit its working folder, and a run without ``out_dir`` writes
    ``results/<timestamp>`` there: that folder must be ``$TOPICLAB_HOME``, not where the user
    typed the command (before: the server's working folder)."""
    somewhere = tmp_path / "somewhere"
    somewhere.mkdir()
    monkeypatch.chdir(somewhere)
    monkeypatch.setenv("PYTHONPATH", "relative/plugins")
    monkeypatch.setattr(deploy, "ensure_server", lambda: "http://127.0.0.1:1/api")
    seen: dict[str, Any] = {}

    def fake_serve(deployments: list[Any], url: str) -> None:
        seen["cwd"] = Path.cwd()
        seen["pythonpath"] = os.environ["PYTHONPATH"].split(os.pathsep)
        seen["entrypoints"] = [d.entrypoint for d in deployments]

    monkeypatch.setattr(deploy, "_serve_while_answering", fake_serve)
    deploy.serve_deployments(
        ["ridge"], "quick", None, None, console=type("C", (), {"print": print})()
    )
    assert seen["cwd"] == topiclab_home()
    assert (topiclab_home() / "results").is_dir()
    # the runs import this checkout, and relative entries keep their meaning
    assert str(Path(deploy.__file__).resolve().parents[2]) in seen["pythonpath"]
    assert str(somewhere / "relative" / "plugins") in seen["pythonpath"]
    assert seen["entrypoints"] == [
        "topiclab.flows.pipeline.topic_pipeline",
        "topiclab.flows.pipeline.suite",
    ]


def test_serve_whose_server_went_away_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stopping `topiclab ui` before `topiclab serve` left serve's shutdown (pausing the
    deployments) retrying, then a 100-line httpx.ConnectError traceback."""
    import httpx
    import prefect.runner

    from topiclab.core.errors import TopiclabError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(deploy, "ensure_server", lambda: "http://127.0.0.1:1/api")

    class ServerGone(FakeRunner):
        async def start(self) -> None:
            raise httpx.ConnectError("All connection attempts failed")

    monkeypatch.setattr(prefect.runner, "Runner", ServerGone)
    with pytest.raises(TopiclabError, match=r"http://127.0.0.1:1/api stopped answering"):
        deploy.serve_deployments(
            ["ridge"], "quick", None, None, console=type("C", (), {"print": print})()
        )


class FakeRunner:
    """Prefect's ``Runner`` as ``serve`` uses it; ``start`` runs until ``astop`` (or 20 s,
    about when Prefect's own runner gives up on a server that went away)."""

    def __init__(self, pause_on_shutdown: bool = True, **options: Any) -> None:
        self.pause_on_shutdown = pause_on_shutdown
        self.stopping = False

    def add_deployment(self, deployment: Any) -> None:
        pass

    async def start(self) -> None:
        import anyio

        with anyio.move_on_after(20):
            while not self.stopping:
                await anyio.sleep(0.05)

    async def astop(self) -> None:
        self.stopping = True


def test_serve_ends_within_seconds_once_its_server_stops_answering(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stopping `topiclab ui` while `topiclab serve` polled it: Prefect's runner retried for
    about 80 s before serve's one-line end. Its /health is checked every second now."""
    import prefect.runner

    from topiclab.core.errors import TopiclabError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(deploy, "ensure_server", lambda: "http://127.0.0.1:1/api")  # refuses
    monkeypatch.setattr(prefect.runner, "Runner", FakeRunner)
    start = time.perf_counter()
    with pytest.raises(TopiclabError) as info:
        deploy.serve_deployments(
            ["ridge"], "quick", None, None, console=type("C", (), {"print": print})()
        )
    assert time.perf_counter() - start < 10
    assert str(info.value).startswith(
        "the Prefect server at http://127.0.0.1:1/api stopped answering (no answer at "
        "http://127.0.0.1:1/api/health 3 times in a row); the deployments stay registered"
    ), info.value


def test_run_form_offers_drop_downs_with_descriptions() -> None:
    """The parameter schema the Prefect UI builds its run form from: topics and profiles
    as enums (drop-downs), a description on every parameter, internal flags hidden."""
    from typing import get_args

    from topiclab.core.topic import PROFILES
    from topiclab.flows.pipeline import Profile

    assert get_args(Profile) == PROFILES
    one, _, all_topics = deploy.build_deployments(["causal-iv", "ridge"], "quick", None, None)
    props = one._parameter_openapi_schema.model_dump()["properties"]
    assert props["topic"]["enum"] == ["causal-iv", "ridge"]
    assert props["profile"]["enum"] == list(PROFILES)
    assert "multi_topic" not in props
    assert all(p.get("description") for p in props.values()), props
    suite_props = all_topics._parameter_openapi_schema.model_dump()["properties"]
    array = next(o for o in suite_props["topics"]["anyOf"] if o.get("type") == "array")
    assert array["items"]["enum"] == ["causal-iv", "ridge"]
    assert suite_props["profile"]["enum"] == list(PROFILES)


def test_local_servers_listen_on_loopback_only() -> None:
    """``topiclab ui`` (and the tests' servers, built from the same commands) never listen on
    another interface: a team server is set up on purpose (deploy/README.md), not by accident."""
    from topiclab.app.servers import mlflow_command, prefect_command, prefect_env

    for cmd in (prefect_command(4200), mlflow_command(5000, "sqlite:///x.db")):
        assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert prefect_env(4200)["PREFECT_SERVER_API_HOST"] == "127.0.0.1"


def test_a_garbled_health_answer_is_a_failed_check_not_an_error() -> None:
    """A /health answer that is no HTTP (a server dying mid-reply) raised http.client's
    BadStatusLine, no OSError, out of ``healthy``: it ended serve's watch of the server
    silently (an asyncio task's unretrieved error), so a server gone after it was not seen."""
    import socket
    import threading

    import anyio

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def garble() -> None:
        with listener:
            for _ in range(2):
                conn, _ = listener.accept()
                with conn:
                    conn.recv(1024)
                    conn.sendall(b"garbage\r\n\r\n")

    threading.Thread(target=garble, daemon=True).start()
    anyio.run(deploy.until_gone, f"http://127.0.0.1:{port}", 0.01, 2)  # returns: 2 failures


def test_a_server_too_busy_to_answer_is_waited_for_longer_than_a_stopped_one() -> None:
    """At load 20 a live Prefect server can let a 2 s check time out: three of those in a row
    ended `serve` as if the server had stopped. Time-outs now count only towards ``patience``;
    a refused connection still ends it after ``checks``."""
    import socket
    import time

    import anyio

    with socket.create_server(("127.0.0.1", 0)) as silent:  # connects, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        assert anyio.run(deploy.until_gone, url, 0.01, 2, 1.0, 0.2) == " for 1 s"
        assert 1.0 <= time.monotonic() - start < 5.0
    start = time.monotonic()
    gone = anyio.run(deploy.until_gone, f"http://127.0.0.1:{unused_port()}", 0.01, 2, 60.0, 0.2)
    assert gone == " 2 times in a row"
    assert time.monotonic() - start < 1.0  # refused twice: gone, no 60 s wait
