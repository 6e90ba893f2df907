"""A team setup with authentication, as deploy/README.md describes it, started on 127.0.0.1.

A private PostgreSQL cluster holds three databases: Prefect's, MLflow's tracking store and
MLflow's user store. On it run a Prefect server with ``PREFECT_SERVER_API_AUTH_STRING`` and an
MLflow tracking server with basic auth (``--app-name basic-auth``, the admin password from the
environment, artifacts proxied by the server). A ``pipeline`` user is created through the auth
REST API; ``prefect deploy`` deploys deploy/prefect.yaml; two process workers on the pool,
which know the servers only from their environment, pick up the runs. The test triggers a topic
deployment and two suites at the same moment through the Prefect API, then a suite whose topics
fan out as runs of their deployments to both workers (the DAG respected, the metrics those of an
in-process run). It finds every run, metric and report through the MLflow REST API, checks that
strangers are refused by both servers, and greps every log, tag, param and artifact for the
secrets (and sees the same grep find a planted one). Everything is stopped by PID.

    TOPICLAB_REQUIRE_POSTGRES=1 pytest tests/flows/test_team_deploy.py -s

The browser tests (Chromium; ``TOPICLAB_REQUIRE_BROWSER=1`` makes its absence a failure) log
in to both UIs and take the screenshots that deploy/README.md shows; they land in a temporary
folder, or in ``$TOPICLAB_DOCS_IMAGES`` (``TOPICLAB_DOCS_IMAGES=docs/images`` refreshes the
docs' copies), so a test run never rewrites tracked files.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from support.services import chromium_browser, free_port, postgres_cluster, prefect_pointed_at
from support.services import screenshot_step as step

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
REPO = Path(__file__).resolve().parents[2]
POOL = "topiclab"
RUN_TIMEOUT_S = 600  # three flow runs at once; minutes only on a loaded 2-core box
SERVER_TIMEOUT_S = 300  # healthy within; MLflow alone needed over 180 s at a load of 15
HTTP_TIMEOUT_S = 120  # one request; a loaded box (load 15) timed out at 30 s
STOP_GRACE_S = 3  # then SIGKILL: their data is deleted next (MLflow ignored SIGTERM for 15 s)
WORKERS = ("worker-1", "worker-2")
WORKER_LIMIT = 2  # flow runs at once per worker: what one worker cannot take, the other does
# Waves [causal-iv, causal-recsys, llama] then [compression] (it consumes llama's model). The
# suite's own run takes a slot of one worker; the first wave's three runs need more than the
# other worker's WORKER_LIMIT slots, so both workers must take some. (With two topics in the
# first wave, one worker once took both and then compression too: a flaky pass before.)
SHARED_SUITE = ["compression", "causal-iv", "causal-recsys"]
# Less text per play and per non-text stream than quick's (3,000 and 2,048 bytes): the LM's
# arithmetic coding took ~30 s of each of the two suites' time, and what is compared here (the
# pooled numbers against the in-process ones, the DAG, the workers) does not depend on it.
# Through the suite's ``overrides``, so that the pool passes them on to each topic's run.
SHARED_OVERRIDES = ["compression:max_bytes=600", "compression:modal_bytes=256"]
TIMING = ("seconds", "per_s", "s_per_token", "speedup", "kb_s")  # wall-clock: differ run to run
UI_TIMEOUT_MS = 120_000
SUITE_TOPIC = "ridge"  # the example plugin's topic: seconds in the quick profile


@dataclass
class Team:
    prefect: str  # .../api
    mlflow: str
    auth_string: str  # Prefect's "user:password"
    admin: tuple[str, str]
    pipeline: tuple[str, str]
    home: Path  # the TOPICLAB_HOME every worker shares
    artifacts: Path  # where the MLflow server stores what it proxies
    logs: list[Path]  # the servers' and the workers'
    flask_key: str

    def secrets(self) -> list[str]:
        return [self.auth_string, self.admin[1], self.pipeline[1], self.flask_key]

    def secret_forms(self) -> list[bytes]:
        """Each secret as written, and the basic-auth headers that carry them (base64)."""
        pairs = [self.auth_string, ":".join(self.admin), ":".join(self.pipeline)]
        return [s.encode() for s in self.secrets()] + [base64.b64encode(p.encode()) for p in pairs]


def auth_config(folder: Path, users_db: str) -> Path:
    """MLflow's auth settings; the admin password is not in it (MLFLOW_AUTH_ADMIN_PASSWORD)."""
    path = folder / "basic_auth.ini"
    path.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {users_db}\n"
        "admin_username = admin\n"
        # Checking a password (PBKDF2) per request is the single worker's main cost here.
        "auth_cache_ttl_seconds = 60\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return path


def create_user(mlflow: str, admin: tuple[str, str], user: tuple[str, str]) -> None:
    response = requests.post(
        f"{mlflow}/api/2.0/mlflow/users/create",
        json={"username": user[0], "password": user[1]},
        auth=admin,
        timeout=HTTP_TIMEOUT_S,
    )
    assert response.status_code == 200, response.text


def start_prefect_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "prefect", "--no-prompt", *args]
    pipe = subprocess.PIPE
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=pipe, stderr=pipe, text=True)


def finish_prefect_cli(proc: subprocess.Popen[str], args: list[str]) -> str:
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"prefect {' '.join(args)}:\n{stdout}\n{stderr}"
    return stdout + stderr


def prefect_cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    return finish_prefect_cli(start_prefect_cli(args, env, cwd), args)


def new_team(tmp: Path, prefect_port: int, mlflow_port: int) -> Team:
    from topiclab.core.environment import topiclab_home

    token = secrets.token_urlsafe
    return Team(
        prefect=f"http://127.0.0.1:{prefect_port}/api",
        mlflow=f"http://127.0.0.1:{mlflow_port}",
        auth_string=f"topiclab:{token(18)}",
        admin=("admin", token(18)),
        pipeline=("pipeline", token(18)),
        home=tmp / "shared-home",
        artifacts=tmp / "mlartifacts",
        logs=[topiclab_home() / f"team-{n}.log" for n in ("prefect", "mlflow", *WORKERS)],
        flask_key=token(24),
    )


def team_servers(team: Team, pg: str, tmp: Path) -> list[Any]:
    """The Prefect server with its auth string, MLflow with basic auth: both on PostgreSQL."""
    from topiclab.app.servers import (
        Server,
        mlflow_command,
        mlflow_env,
        prefect_command,
        prefect_env,
    )

    prefect_port = int(team.prefect.split(":")[-1].removesuffix("/api"))
    mlflow_port = int(team.mlflow.split(":")[-1])
    mlflow_cmd = mlflow_command(mlflow_port, f"postgresql+psycopg://{pg}/mlflow")
    mlflow_cmd[mlflow_cmd.index("--artifacts-destination") + 1] = str(team.artifacts)
    mlflow_server_env = {
        **mlflow_env(),  # no GenAI job runner, as deploy/README.md says
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_config(tmp, f"postgresql+psycopg://{pg}/mlflow_users")),
        "MLFLOW_AUTH_ADMIN_PASSWORD": team.admin[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": team.flask_key,
    }
    prefect_server_env = {
        **prefect_env(prefect_port),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://{pg}/prefect",
        "PREFECT_HOME": str(tmp / "prefect-server"),
        "PREFECT_SERVER_API_AUTH_STRING": team.auth_string,
    }
    return [
        Server(
            "team-prefect",
            prefect_command(prefect_port),
            f"{team.prefect}/health",
            prefect_server_env,
        ),
        Server(
            "team-mlflow",
            [*mlflow_cmd, "--app-name", "basic-auth"],
            f"{team.mlflow}/health",
            mlflow_server_env,
        ),
    ]


def team_worker(team: Team, client: dict[str, str], tmp: Path, name: str) -> Any:
    """``prefect worker start`` on the pool, healthy when its web server answers."""
    from topiclab.app.servers import Server

    port = free_port()
    cmd = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL]
    cmd += ["--name", name, "--limit", str(WORKER_LIMIT), "--with-healthcheck"]
    env = worker_env(team, client, tmp / f"prefect-{name}", port)
    return Server(f"team-{name}", cmd, f"http://127.0.0.1:{port}/health", env)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """Servers, the pipeline user, ``prefect deploy`` and two workers; all stopped by PID.

    What does not depend on each other starts at once: the servers; then ``prefect deploy``
    and the workers (they poll the pool before it has deployments)."""
    from topiclab.app.servers import server_processes

    tmp = tmp_path_factory.mktemp("team")
    team = new_team(tmp, free_port(), free_port())
    deploy = ["deploy", "--all", "--prefect-file", str(REPO / "deploy" / "prefect.yaml")]
    with (
        postgres_cluster(["prefect", "mlflow", "mlflow_users"]) as pg,
        server_processes(team_servers(team, pg, tmp), SERVER_TIMEOUT_S, STOP_GRACE_S),
    ):
        create_user(team.mlflow, team.admin, team.pipeline)
        client = client_env(team, tmp / "prefect-client")
        prefect_cli(["work-pool", "create", POOL, "--type", "process"], client, tmp)
        deploying = start_prefect_cli(deploy, client, tmp)
        workers = [team_worker(team, client, tmp, name) for name in WORKERS]
        with server_processes(workers, SERVER_TIMEOUT_S, STOP_GRACE_S):
            finish_prefect_cli(deploying, deploy)
            yield team


def client_env(team: Team, prefect_home: Path) -> dict[str, str]:
    """What a team member's shell needs for the Prefect CLI: the URL and the auth string."""
    return {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": team.prefect,
        "PREFECT_API_AUTH_STRING": team.auth_string,
    }


def worker_env(team: Team, client: dict[str, str], prefect_home: Path, port: int) -> dict[str, str]:
    """A worker knows the servers only from its environment (deploy/README.md)."""
    pythonpath = [str(REPO), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    return {
        **client,
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
        "PREFECT_WORKER_WEBSERVER_PORT": str(port),
        "MLFLOW_TRACKING_URI": team.mlflow,
        "MLFLOW_TRACKING_USERNAME": team.pipeline[0],
        "MLFLOW_TRACKING_PASSWORD": team.pipeline[1],
        "TOPICLAB_HOME": str(team.home),
        "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p),
    }


@pytest.fixture(scope="module")
def prefect_client(team: Team) -> Iterator[Any]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

    settings = {PREFECT_API_URL: team.prefect, PREFECT_API_AUTH_STRING: team.auth_string}
    with prefect_pointed_at(settings), get_client(sync_client=True) as client:
        yield client


@pytest.fixture(scope="module")
def triggered(team: Team, prefect_client: Any) -> dict[str, Any]:
    """A topic deployment and two suites, created at the same moment; waits for all three."""
    quick = {"profile": "quick"}
    requests_ = {
        "topic": ("topic-pipeline/causal-iv", quick),
        "suite-a": ("topiclab-suite/all-topics", {**quick, "topics": [SUITE_TOPIC]}),
        "suite-b": ("topiclab-suite/all-topics", {**quick, "topics": [SUITE_TOPIC]}),
    }
    start = time.monotonic()
    runs = {label: trigger(prefect_client, *request) for label, request in requests_.items()}
    states = wait_final(prefect_client, runs, team)
    print(f"\nthree flow runs finished in {time.monotonic() - start:.0f} s")
    return states


def trigger(prefect_client: Any, name: str, parameters: dict[str, Any]) -> Any:
    deployment = prefect_client.read_deployment_by_name(name)
    return prefect_client.create_flow_run_from_deployment(deployment.id, parameters=parameters)


def wait_final(prefect_client: Any, runs: dict[str, Any], team: Team) -> dict[str, Any]:
    """The flow runs once all are in a final state (polled every second)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        states = {k: prefect_client.read_flow_run(r.id) for k, r in runs.items()}
        if all(r.state.is_final() for r in states.values()):
            return states
        if time.monotonic() > deadline:
            logs = "\n".join(tail(p) for p in team.logs[2:])
            pytest.fail(f"not finished in {RUN_TIMEOUT_S} s: {states}\n{logs}")
        time.sleep(1)


@pytest.fixture(scope="module")
def shared_suite(team: Team, prefect_client: Any, triggered: Any, tmp_path_factory) -> Any:
    """A suite on the pool, after the runs above: its topics fan out as runs of their
    deployments. Meanwhile this process runs the same suite in-process, under its own
    TOPICLAB_HOME (nothing cached) and MLflow, for the numbers to compare."""
    from topiclab.flows.pipeline import suite

    out = team.home / "results" / "shared-suite"
    parameters = {
        "profile": "quick",
        "topics": SHARED_SUITE,
        "overrides": SHARED_OVERRIDES,
        "out_dir": str(out),
    }
    start = time.monotonic()
    run = trigger(prefect_client, "topiclab-suite/all-topics", parameters)
    in_process = str(tmp_path_factory.mktemp("in-process"))
    local = suite(SHARED_SUITE, "quick", SHARED_OVERRIDES, out_dir=in_process)
    ended = wait_final(prefect_client, {"suite": run}, team)["suite"]
    print(f"\nthe suite on the pool and in-process finished in {time.monotonic() - start:.0f} s")
    return {"run": ended, "out": out, "local": local}


def tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else f"(no {path})"


class MlflowRest:
    """The MLflow REST API with the pipeline user's credentials."""

    def __init__(self, url: str, user: tuple[str, str]) -> None:
        self.url, self.user = url, user

    def get(self, route: str, **params: Any) -> requests.Response:
        url, timeout = f"{self.url}{route}", HTTP_TIMEOUT_S
        response = requests.get(url, params=params, auth=self.user, timeout=timeout)
        assert response.status_code == 200, f"{route}: {response.status_code} {response.text}"
        return response

    def post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        url, timeout = f"{self.url}{route}", HTTP_TIMEOUT_S
        response = requests.post(url, json=body, auth=self.user, timeout=timeout)
        assert response.status_code == 200, f"{route}: {response.status_code} {response.text}"
        return dict(response.json())

    def run_of(self, topic: str, flow_run_id: str) -> dict[str, Any]:
        """The parent MLflow run that a topic-pipeline flow run opened."""
        exp = self.get(
            "/api/2.0/mlflow/experiments/get-by-name", experiment_name=f"topiclab-{topic}"
        )
        found = self.post(
            "/api/2.0/mlflow/runs/search",
            {
                "experiment_ids": [exp.json()["experiment"]["experiment_id"]],
                "filter": f"tags.prefect_flow_run_id = '{flow_run_id}'",
            },
        ).get("runs", [])
        parents = [r for r in found if "mlflow.parentRunId" not in tags_of(r)]
        assert len(parents) == 1, f"runs of flow run {flow_run_id}: {found}"
        return parents[0]

    def artifacts(self, run_id: str, path: str = "") -> Iterator[tuple[str, bytes]]:
        """Every artifact of a run, downloaded through the server's proxy."""
        listing = self.get("/api/2.0/mlflow/artifacts/list", run_id=run_id, path=path).json()
        for item in listing.get("files", []):
            if item.get("is_dir"):
                yield from self.artifacts(run_id, item["path"])
            else:
                body = self.get("/get-artifact", path=item["path"], run_uuid=run_id).content
                yield item["path"], body


def tags_of(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def topic_flow_runs(prefect_client: Any, suite_run_id: Any) -> list[Any]:
    """The topic-pipeline flow runs a suite started (its subflows)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    return list(
        prefect_client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[suite_run_id])
            )
        )
    )


def test_deploy_created_every_deployment_with_the_suite_schedule(prefect_client):
    import yaml

    spec = yaml.safe_load((REPO / "deploy" / "prefect.yaml").read_text())
    for item in spec["deployments"]:
        flow = "topiclab-suite" if item["entrypoint"].endswith(".suite") else "topic-pipeline"
        deployment = prefect_client.read_deployment_by_name(f"{flow}/{item['name']}")
        assert deployment.work_pool_name == POOL
        assert deployment.parameters == item["parameters"]
        crons = [s.schedule.cron for s in deployment.schedules]
        assert crons == [s["cron"] for s in item.get("schedules", [])]


def test_worker_runs_a_topic_and_mlflow_has_its_run_metrics_and_report(team, triggered):
    flow_run = triggered["topic"]
    assert flow_run.state.is_completed(), f"{flow_run.state}\n{tail(team.logs[2])}"
    mlflow = MlflowRest(team.mlflow, team.pipeline)
    run = mlflow.run_of("causal-iv", str(flow_run.id))
    assert run["info"]["status"] == "FINISHED"
    assert run["info"]["artifact_uri"].startswith("mlflow-artifacts:")  # proxied
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert {"eval/coverage_tsls", "run/seconds"} <= set(metrics)
    report = mlflow.get("/get-artifact", path="report.html", run_uuid=run["info"]["run_id"])
    assert "instrumental variables (2SLS)" in report.text
    # Stored by the server under its own folder; the worker's home holds no MLflow files.
    assert list(team.artifacts.rglob("report.html"))
    assert not list(team.home.rglob("mlartifacts")) and not list(team.home.rglob("mlflow.db"))
    # The run wrote its results under the worker's TOPICLAB_HOME, whatever its working folder.
    assert list((team.home / "results").glob("*/causal-iv/report.html"))


def test_two_suites_at_once_both_finish_with_every_run_recorded(team, triggered, prefect_client):
    mlflow = MlflowRest(team.mlflow, team.pipeline)
    seen = set()
    for label in ("suite-a", "suite-b"):
        suite_run = triggered[label]
        assert suite_run.state.is_completed(), f"{label}: {suite_run.state}"
        (topic_run,) = topic_flow_runs(prefect_client, suite_run.id)
        assert topic_run.state.is_completed()
        assert topic_run.deployment_id is None  # ridge has no deployment: ran in the suite's run
        run = mlflow.run_of(SUITE_TOPIC, str(topic_run.id))
        assert run["info"]["status"] == "FINISHED"
        assert {m["key"] for m in run["data"]["metrics"]} >= {"eval/test_mse", "run/seconds"}
        assert "metrics.json" in dict(mlflow.artifacts(run["info"]["run_id"]))
        seen.add(run["info"]["run_id"])
    assert len(seen) == 2


def test_a_suite_on_the_pool_shares_its_topics_between_both_workers(shared_suite, prefect_client):
    suite_run = shared_suite["run"]
    assert suite_run.state.is_completed(), suite_run.state
    runs = {r.parameters["topic"]: r for r in topic_flow_runs(prefect_client, suite_run.id)}
    assert set(runs) == {*SHARED_SUITE, "llama"}  # compression's upstream joined the suite
    for topic, run in runs.items():  # each a run of the topic's own deployment
        assert run.state.is_completed(), f"{topic}: {run.state}"
        assert run.deployment_id, f"{topic} ran inside the suite's run, not on the pool"
        deployment = prefect_client.read_deployment(run.deployment_id)
        assert deployment.name == topic and deployment.work_pool_name == POOL
    workers = {topic: run.labels["prefect.worker.name"] for topic, run in runs.items()}
    print(f"\nworkers: {workers}, the suite's: {suite_run.labels['prefect.worker.name']}")
    assert set(workers.values()) == set(WORKERS), workers
    # The DAG: compression's run was created once llama's had ended, and reused its model.
    assert runs["compression"].created >= runs["llama"].end_time
    assert not topic_flow_runs(prefect_client, runs["compression"].id)  # no second llama run
    metrics = {topic: published(shared_suite["out"], topic) for topic in runs}
    assert metrics["compression"]["upstream"]["llama"]["cache_key"] == metrics["llama"]["cache_key"]
    assert metrics["llama"]["cached_stages"] == []


def test_the_suite_on_the_pool_gives_the_numbers_of_an_in_process_run(shared_suite):
    local = {e["topic"]: untimed(e["metrics"]) for e in shared_suite["local"]["topics"]}
    assert set(local) == {*SHARED_SUITE, "llama"} and all(local.values())
    out = shared_suite["out"]
    pooled = {topic: untimed(published(out, topic)["metrics"]) for topic in local}
    assert pooled == local
    assert (out / "index.md").exists()  # the suite wrote its index from the topics' files


def published(out: Path, topic: str) -> dict[str, Any]:
    return dict(json.loads((out / topic / "metrics.json").read_text()))


def untimed(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not any(t in k for t in TIMING)}


def test_strangers_are_refused(team):
    run_search = f"{team.mlflow}/api/2.0/mlflow/experiments/search"
    stranger = requests.post(run_search, json={"max_results": 1}, timeout=HTTP_TIMEOUT_S)
    assert stranger.status_code == 401
    wrong = ("pipeline", "not-the-password")
    assert requests.post(run_search, json={}, auth=wrong, timeout=HTTP_TIMEOUT_S).status_code == 401
    assert requests.get(f"{team.mlflow}/", timeout=HTTP_TIMEOUT_S).status_code == 401  # the UI too
    flows = f"{team.prefect}/flows/filter"
    assert requests.post(flows, json={}, timeout=HTTP_TIMEOUT_S).status_code == 401
    bad = base64.b64encode(b"topiclab:wrong").decode()
    headers = {"Authorization": f"Basic {bad}"}
    assert requests.post(flows, json={}, headers=headers, timeout=HTTP_TIMEOUT_S).status_code == 401
    good = base64.b64encode(team.auth_string.encode()).decode()
    headers = {"Authorization": f"Basic {good}"}
    assert requests.post(flows, json={}, headers=headers, timeout=HTTP_TIMEOUT_S).status_code == 200


def gather_texts(
    team: Team, prefect_client: Any, topic_runs: set[tuple[str, Any]], flow_run_ids: list[Any]
) -> dict[str, bytes]:
    """Everything a secret could leak into: the servers' and workers' logs, every file under
    the shared TOPICLAB_HOME, every artifact the MLflow server stored, the flow runs' Prefect
    logs, every Prefect artifact, and the tags and params of the topics' MLflow runs
    ``(topic, flow run id)``."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    mlflow = MlflowRest(team.mlflow, team.pipeline)
    texts: dict[str, bytes] = {str(p): p.read_bytes() for p in team.logs}
    # Results, reports, stage outputs, topiclab's logs; and the server's artifact store, read
    # from its disk (the REST download of artifacts is checked above; this is every run's).
    for path in [*team.home.rglob("*"), *team.artifacts.rglob("*")]:
        if path.is_file():
            texts[str(path)] = path.read_bytes()
    ids = LogFilterFlowRunId(any_=flow_run_ids)
    logs = prefect_client.read_logs(log_filter=LogFilter(flow_run_id=ids))
    assert logs, "the flow runs sent no logs to the Prefect server"
    texts["prefect logs"] = "\n".join(entry.message for entry in logs).encode()
    for artifact in prefect_client.read_artifacts():
        texts[f"prefect artifact {artifact.key}"] = (
            f"{artifact.data} {artifact.description}".encode()
        )
    for topic, flow_run_id in topic_runs:
        run = mlflow.run_of(topic, str(flow_run_id))
        run_id = run["info"]["run_id"]
        texts[f"mlflow run {run_id}"] = repr(run["data"]).encode()
    return texts


def leaks(texts: dict[str, bytes], forms: list[bytes]) -> list[str]:
    """The names of the texts that hold any of ``forms``."""
    return sorted({name for name, body in texts.items() for form in forms if form in body})


def test_no_secret_in_logs_tags_params_or_artifacts(team, triggered, shared_suite, prefect_client):
    topic_runs = {("causal-iv", triggered["topic"].id)}
    ids = [triggered["topic"].id]
    for suite_run in (triggered["suite-a"], triggered["suite-b"], shared_suite["run"]):
        subflows = topic_flow_runs(prefect_client, suite_run.id)
        topic_runs |= {(r.parameters["topic"], r.id) for r in subflows}
        ids += [suite_run.id, *(r.id for r in subflows)]
    texts = gather_texts(team, prefect_client, topic_runs, ids)
    assert len([k for k in texts if k.startswith("mlflow run")]) == 3 + len(SHARED_SUITE) + 1
    assert not leaks(texts, team.secret_forms()), "secrets found"


def test_the_secret_grep_finds_a_planted_secret(team, triggered, prefect_client):
    """The grep above can fail: a password in an MLflow tag and an auth header in a log line
    are found, exactly there."""
    mlflow = MlflowRest(team.mlflow, team.pipeline)
    flow_run_id = triggered["topic"].id
    run_id = mlflow.run_of("causal-iv", str(flow_run_id))["info"]["run_id"]
    header = base64.b64encode(team.auth_string.encode()).decode()
    log = team.home / "planted.log"
    try:
        mlflow.post(
            "/api/2.0/mlflow/runs/set-tag",
            {"run_id": run_id, "key": "planted", "value": f"pw={team.pipeline[1]}"},
        )
        log.write_text(f"GET /api/flows Authorization: Basic {header}\n")
        texts = gather_texts(team, prefect_client, {("causal-iv", flow_run_id)}, [flow_run_id])
        assert leaks(texts, team.secret_forms()) == sorted([f"mlflow run {run_id}", str(log)])
    finally:
        mlflow.post("/api/2.0/mlflow/runs/delete-tag", {"run_id": run_id, "key": "planted"})
        log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: ``$TOPICLAB_DOCS_IMAGES`` if set, else a temporary folder."""
    docs = os.environ.get("TOPICLAB_DOCS_IMAGES")
    return Path(docs) if docs else tmp_path_factory.mktemp("team-screenshots")


def new_page(browser: Any, **options: Any) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, **options)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.set_default_navigation_timeout(UI_TIMEOUT_MS)
    return page


@pytest.mark.browser
def test_mlflow_ui_asks_for_a_login_and_shows_the_run_metrics_and_report(
    team, triggered, browser, shots
):
    assert triggered["topic"].state.is_completed()
    run = MlflowRest(team.mlflow, team.pipeline).run_of("causal-iv", str(triggered["topic"].id))
    exp, run_id = run["info"]["experiment_id"], run["info"]["run_id"]
    stranger = browser.new_context()  # (a page would stop at the browser's login prompt)
    assert stranger.request.get(team.mlflow).status == 401
    stranger.close()
    user, password = team.pipeline
    page = new_page(browser, http_credentials={"username": user, "password": password})
    try:
        with step(page, shots, "team-mlflow-run"):
            page.goto(
                f"{team.mlflow}/#/experiments/{exp}/runs/{run_id}?workflowType=machine_learning"
            )
            metric = page.get_by_text("eval/coverage_tsls", exact=True).first
            metric.wait_for()
            metric.scroll_into_view_if_needed()  # the screenshot shows the metrics table
        with step(page, shots, "team-mlflow-report"):
            page.goto(f"{team.mlflow}/#/experiments/{exp}/runs/{run_id}/artifacts")
            page.get_by_text("report.html", exact=True).first.click()
            title = "Causal Inference 102: instrumental variables"
            page.frame_locator("iframe").get_by_text(title).first.wait_for()
    finally:
        page.context.close()


@pytest.mark.browser
def test_prefect_ui_asks_for_the_auth_string_and_shows_the_deployments(
    team, triggered, browser, shots
):
    ui = team.prefect.removesuffix("/api")
    page = new_page(browser)
    try:
        with step(page, shots, "team-prefect-login"):
            page.goto(f"{ui}/deployments")
            secret = page.locator("input[type=password]").first
            secret.wait_for()
        secret.fill(team.auth_string)
        secret.press("Enter")
        with step(page, shots, "team-prefect-deployments"):
            page.get_by_text("all-topics", exact=True).first.wait_for()
        with step(page, shots, "team-prefect-flow-run"):
            page.goto(f"{ui}/runs/flow-run/{triggered['topic'].id}")
            page.get_by_text("Completed", exact=True).first.wait_for()
    finally:
        page.context.close()
