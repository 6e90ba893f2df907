"""The deployment files agree with the code: Docker is not on our machines, so they are parsed.

deploy/Dockerfile against pyproject.toml and scripts/bootstrap.py; deploy/prefect.yaml against
the registered topics and the flows; deploy/compose.yaml and deploy/k8s/topiclab.yaml against
each other, against prefect.yaml (pool, file), and their environment variable names against
what topiclab, Prefect and MLflow read. Secrets are never written into them.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
# Read by other programs than topiclab, Prefect and MLflow: the postgres image, libpq, and
# the one-shot job that creates the pipeline's MLflow user (its own script, in the file).
OTHER_READERS = {
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "PGPASSWORD",
    "MLFLOW_PIPELINE_USER",
    "MLFLOW_PIPELINE_PASSWORD",
}
WORKER_NEEDS = {
    "PREFECT_API_URL",
    "PREFECT_API_AUTH_STRING",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "TOPICLAB_HOME",
}


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


@cache
def prefect_yaml() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "prefect.yaml").read_text()))


@cache
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


@cache
def k8s() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "topiclab.yaml").read_text()) if d]


def k8s_containers() -> dict[str, dict[str, Any]]:
    found = {}
    for doc in k8s():
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            found[doc["metadata"]["name"]] = container
    return found


def pin(name: str) -> str:
    (dep,) = [d for d in pyproject()["project"]["dependencies"] if re.match(rf"{name}\W", d)]
    return dep.split("#")[0].strip()


def bootstrap_no_deps() -> list[str]:
    """scripts/bootstrap.py's NO_DEPS: package data installed without its dependencies."""
    spec = importlib.util.spec_from_file_location("bootstrap", REPO / "scripts" / "bootstrap.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.NO_DEPS)


def pool_name() -> str:
    pools = {d["work_pool"]["name"] for d in prefect_yaml()["deployments"]}
    assert len(pools) == 1, pools
    return pools.pop()


# --- Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_installs_what_pyproject_pins() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    python = re.search(r"^FROM python:(\d+\.\d+)", text, re.M)
    assert python, "the image starts from an official Python image"
    assert f">={python.group(1)}" in pyproject()["project"]["requires-python"]
    assert re.search(rf"pip install --index-url \S+/cpu {re.escape(pin('torch'))}\n", text)
    assert re.search(r"^RUN pip install \.( |$)", text, re.M), "topiclab with its pinned deps"
    assert f"pip install --no-deps {' '.join(bootstrap_no_deps())}" in text
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for path in source.split():
            assert (REPO / path).exists(), f"COPY {path}: not in the repository"


def test_the_auth_extra_is_installed_for_the_mlflow_server() -> None:
    assert pin("mlflow").startswith("mlflow[auth]==")


# --- deploy/prefect.yaml --------------------------------------------------------------------


def test_prefect_yaml_has_a_deployment_per_built_in_topic_and_the_scheduled_suite() -> None:
    from prefect.utilities.importtools import import_object

    from topiclab.core.registry import get_registry

    built_in = {k for k, t in get_registry().topics.items() if t.__module__.startswith("topiclab.")}
    deployments = {d["name"]: d for d in prefect_yaml()["deployments"]}
    suite = deployments.pop("all-topics")
    assert set(deployments) == built_in
    for name, item in deployments.items():
        assert item["parameters"]["topic"] == name
        assert item["entrypoint"] == "topiclab.flows.pipeline.topic_pipeline"
    assert suite["entrypoint"] == "topiclab.flows.pipeline.suite"
    assert [s["cron"] for s in suite["schedules"]] == ["0 3 * * *"]
    for item in prefect_yaml()["deployments"]:
        flow = import_object(item["entrypoint"])
        accepted = inspect.signature(flow.fn).parameters
        assert set(item["parameters"]) <= set(accepted), item["name"]
    # No pull step: `prefect deploy` resolves {{ $VAR }} on the deploying machine, so a folder
    # named there would be wrong on the workers.
    assert prefect_yaml()["pull"] == []


# --- compose and Kubernetes -----------------------------------------------------------------


def test_compose_runs_the_servers_a_deploy_and_a_worker_on_the_pool() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "prefect-server", "mlflow", "deploy", "users", "worker"}
    ours = {k: s for k, s in services.items() if k != "postgres"}
    assert {s["image"] for s in ours.values()} == {f"topiclab:{topiclab_version()}"}
    build = services["worker"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    worker = services["worker"]["command"]
    assert worker[:4] == ["prefect", "worker", "start", "--pool"] and worker[4] == pool_name()
    # A worker without a limit takes every scheduled run it sees: one would take all of a
    # suite's topics (flows.pool) and the others idle.
    assert int(worker[worker.index("--limit") + 1]) >= 1
    deploy = services["deploy"]["command"][-1]
    assert f"work-pool create {pool_name()} --type process" in deploy
    assert "deploy --all --prefect-file deploy/prefect.yaml" in deploy
    mlflow = services["mlflow"]["command"]
    assert {"--serve-artifacts", "--artifacts-destination", "basic-auth"} <= set(mlflow)
    for name, service in services.items():  # only the UIs, and only on loopback
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_kubernetes_runs_the_same_commands_as_compose() -> None:
    services, containers = compose()["services"], k8s_containers()
    assert {"prefect-server", "mlflow", "prefect-deploy", "mlflow-users", "worker"} <= set(
        containers
    )
    for name in ("prefect-server", "mlflow", "worker"):
        assert containers[name]["args"] == services[name]["command"], name
        assert containers[name]["image"] == services[name]["image"], name
    assert containers["prefect-deploy"]["args"] == services["deploy"]["command"]
    claims = {d["metadata"]["name"]: d for d in k8s() if d["kind"] == "PersistentVolumeClaim"}
    assert claims["topiclab-home"]["spec"]["accessModes"] == ["ReadWriteMany"]  # every worker


def compose_env() -> dict[str, dict[str, str]]:
    return {k: dict(s.get("environment", {})) for k, s in compose()["services"].items()}


def k8s_env() -> dict[str, dict[str, Any]]:
    return {k: {e["name"]: e for e in c.get("env", [])} for k, c in k8s_containers().items()}


def test_workers_get_every_setting_they_need_and_the_same_in_both() -> None:
    assert set(compose_env()["worker"]) >= WORKER_NEEDS
    assert set(k8s_env()["worker"]) == set(compose_env()["worker"])
    assert set(k8s_env()["prefect-deploy"]) == set(compose_env()["deploy"])
    assert set(k8s_env()["mlflow"]) == set(compose_env()["mlflow"])


@cache
def known_variables() -> set[str]:
    """Environment variables that topiclab reads (its source), Prefect (its settings) and
    MLflow (``mlflow.environment_variables``) read."""
    import mlflow.environment_variables as mlflow_env
    from prefect.settings.legacy import _get_settings_fields
    from prefect.settings.models.root import Settings

    source = "\n".join(p.read_text() for p in (REPO / "topiclab").rglob("*.py"))
    ours = set(re.findall(r"environ(?:\.get)?[(\[]\s*\"([A-Z][A-Z0-9_]+)\"", source))
    ours |= set(re.findall(r"\"(TOPICLAB_[A-Z0-9_]+)\"", source))
    defaults = (REPO / "topiclab" / "core" / "environment.py").read_text()
    ours |= set(re.findall(r"\"([A-Z][A-Z0-9_]+)\": ", defaults))  # configure_environment
    mlflow = {v.name for v in vars(mlflow_env).values() if hasattr(v, "get") and hasattr(v, "name")}
    return ours | mlflow | set(_get_settings_fields(Settings))


def test_every_environment_variable_is_read_by_someone() -> None:
    names = {(f"compose {k}", n) for k, env in compose_env().items() for n in env}
    names |= {(f"k8s {k}", n) for k, env in k8s_env().items() for n in env}
    unknown = sorted((where, n) for where, n in names if n not in known_variables() | OTHER_READERS)
    assert not unknown, f"read by nothing we know (a typo?): {unknown}"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for name in re.findall(r"^\s+([A-Z][A-Z0-9_]+)=", dockerfile, re.M):
        assert name in known_variables() | {"PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR"}, name


def test_secrets_come_from_the_environment_or_a_secret_never_from_the_files() -> None:
    from topiclab.core.secrets import SECRET_VARIABLES

    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for service, env in compose_env().items():
        for name, value in env.items():
            if name in SECRET_VARIABLES or "PASSWORD" in name:
                assert re.fullmatch(r"\$\{\w+(:[-?][^}]*)?\}", value), f"{service} {name}"
    used = set(re.findall(r"\$\{(\w+)", (DEPLOY / "compose.yaml").read_text()))
    assert used <= set(example), f"compose uses {used - set(example)} not in env.example"
    for container, env in k8s_env().items():
        for name, item in env.items():
            if name in SECRET_VARIABLES or "PASSWORD" in name:
                ref = item["valueFrom"]["secretKeyRef"]
                assert ref["name"] == "topiclab-secrets" and ref["key"] in example, container
    for text in (DEPLOY / "basic_auth.ini").read_text(), k8s()[0]["data"]["basic_auth.ini"]:
        assert "admin_password" not in text.replace("# admin_password", "")
        assert ":" not in text.split("postgresql+psycopg://")[1].split("@")[0]  # no password


def topiclab_version() -> str:
    import topiclab

    return str(topiclab.__version__)
