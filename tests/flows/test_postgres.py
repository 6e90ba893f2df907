"""Beyond one machine: a Prefect server and an MLflow tracking server, both on PostgreSQL.

Starts a private PostgreSQL cluster (initdb + pg_ctl, as the ``postgres`` user when run as
root), a Prefect server on it, an MLflow tracking server on it with proxied artifacts, and runs
the quick ``ridge`` pipeline in a separate process configured only through the environment,
as a worker on another machine would be. CI sets ``TOPICLAB_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.services import free_port, postgres_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A private cluster on 127.0.0.1; yields the base URL ``postgres@127.0.0.1:PORT``."""
    with postgres_cluster(["prefect", "mlflow"]) as base:
        yield base


@pytest.fixture(scope="module")
def servers(postgres, tmp_path_factory) -> Iterator[dict[str, str]]:
    from topiclab.app.servers import (
        Server,
        mlflow_command,
        mlflow_env,
        prefect_command,
        prefect_env,
        server_processes,
    )

    prefect_port, mlflow_port = free_port(), free_port()
    artifacts = tmp_path_factory.mktemp("artifacts")
    env = {
        **prefect_env(prefect_port),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://{postgres}/prefect",
        "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-server")),
    }
    mlflow_cmd = mlflow_command(mlflow_port, f"postgresql+psycopg://{postgres}/mlflow")
    mlflow_cmd[mlflow_cmd.index("--artifacts-destination") + 1] = str(artifacts)
    prefect_health = f"http://127.0.0.1:{prefect_port}/api/health"
    with server_processes(
        [
            Server("prefect-pg", prefect_command(prefect_port), prefect_health, env),
            Server("mlflow-pg", mlflow_cmd, f"http://127.0.0.1:{mlflow_port}/health", mlflow_env()),
        ]
    ):
        yield {
            "prefect": f"http://127.0.0.1:{prefect_port}/api",
            "mlflow": f"http://127.0.0.1:{mlflow_port}",
            "artifacts": str(artifacts),
        }


def test_pipeline_against_servers_on_postgres(servers, tmp_path):
    env = {
        **os.environ,
        "PREFECT_API_URL": servers["prefect"],
        "MLFLOW_TRACKING_URI": servers["mlflow"],
        "TOPICLAB_HOME": str(tmp_path / "home"),
        "PREFECT_HOME": str(tmp_path / "home" / "prefect"),
        "PREFECT_LOCAL_STORAGE_PATH": str(tmp_path / "home" / "prefect" / "storage"),
    }
    code = (
        "import json; from topiclab.flows.pipeline import topic_pipeline; "
        f"print(json.dumps(topic_pipeline('ridge', 'quick', None, None, '{tmp_path}/out')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])

    from mlflow.tracking import MlflowClient

    client = MlflowClient(servers["mlflow"])
    run = client.get_run(result["links"]["runs"]["mlflow"])
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    assert run.data.metrics["eval/test_mse"] == pytest.approx(result["metrics"]["test_mse"])
    assert result["links"]["urls"]["MLflow run"].startswith(servers["mlflow"])
    report = client.download_artifacts(run.info.run_id, "report.html", str(tmp_path))
    assert "Ridge regression" in Path(report).read_text()
    assert list(Path(servers["artifacts"]).rglob("report.html"))

    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flow_run_id = run.data.tags["prefect_flow_run_id"]
    with SyncPrefectClient(servers["prefect"]) as prefect:
        runs = prefect.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        assert runs and runs[0].state and runs[0].state.is_completed()
        artifacts = prefect.read_artifacts()
        assert {"ridge-report", "ridge-claims"} <= {a.key for a in artifacts}
