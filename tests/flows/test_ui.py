"""Real-browser tests of the user's workflow: Prefect UI -> run -> MLflow UI, Prefect artifacts.

A Prefect server and the MLflow UI (``local_servers``) on free ports, ``topiclab serve --profile
quick`` in a subprocess, and Chromium driven by Playwright:

1. the ``ridge`` deployment is triggered from the Prefect UI (Deployments -> ridge -> Run ->
   Quick run -> Run) and its flow run completes;
2. the MLflow UI lists that run (tag ``prefect_flow_run_id``) and its page shows ``test_mse``;
3. the flow run's "Artifacts" tab in the Prefect UI shows the ``ridge-results`` table.

Each UI step leaves a screenshot in the module's ``screenshots`` temp folder (printed with -s).
Skipped without /usr/bin/chromium unless ``TOPICLAB_REQUIRE_BROWSER=1`` (CI), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.services import chromium_browser, free_port, require_chromium
from support.services import screenshot_step as step

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

UI_TIMEOUT_MS = 120_000  # a page of either UI can take a minute to render on a loaded 2-core box
RUN_TIMEOUT_S = 240
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else f"(no {path})"


@pytest.fixture(scope="module")
def chromium() -> Path:
    return require_chromium()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("screenshots")
    print(f"\nUI screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def servers(chromium: Path) -> Iterator[dict[str, str]]:
    """Prefect server + MLflow UI; ``PREFECT_API_URL`` points at it for this module only."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from topiclab.app.servers import local_servers

    with (
        local_servers(prefect_port=free_port(), mlflow_port=free_port()) as urls,
        pytest.MonkeyPatch.context() as mp,
    ):
        api = f"{urls['prefect']}/api"
        mp.setenv("PREFECT_API_URL", api)  # for the `topiclab serve` subprocess
        with temporary_settings(updates={PREFECT_API_URL: api}):  # this process's client
            yield urls


@pytest.fixture(scope="module")
def served(servers: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``topiclab serve --profile quick`` in its own process group; yields its working folder.

    Its working folder is a temp folder; runs triggered from the UI (no ``out_dir``) must
    still write ``$TOPICLAB_HOME/results/<timestamp>``, not into that folder.
    """
    cwd = tmp_path_factory.mktemp("serve")
    log = cwd / "serve.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "topiclab.app.cli", "serve", "--profile", "quick"],
            cwd=cwd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while ridge_deployment() is None:
            if proc.poll() is not None:
                pytest.fail(f"`topiclab serve` exited with {proc.returncode}:\n{tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"deployment topic-pipeline/ridge not registered in 180 s:\n{tail(log)}"
                )
            time.sleep(1)
        yield cwd
    finally:
        stop_group(proc)
        print(f"\n`topiclab serve` log: {log}")


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the serve process group; Prefect's runner may ignore it, so SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def ridge_deployment() -> Any:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return client.read_deployment_by_name("topic-pipeline/ridge")
        except ObjectNotFound:
            return None


def read_flow_run(flow_run_id: str) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.set_default_navigation_timeout(UI_TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def ui_run(browser: Any, servers: dict[str, str], served: Path, shots: Path) -> dict[str, Any]:
    """Trigger the ridge deployment from the Prefect UI; wait for its flow run to finish."""
    deployment = ridge_deployment()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.set_default_navigation_timeout(UI_TIMEOUT_MS)
    try:
        with step(page, shots, "1-prefect-deployments"):
            page.goto(servers["prefect"])
            page.get_by_text("Deployments", exact=True).first.click()  # sidebar: not a link
            page.get_by_role("link", name="ridge", exact=True).click()
        with step(page, shots, "2-prefect-deployment-ridge"):
            page.wait_for_url(re.compile(rf".*/deployments/deployment/{deployment.id}"))
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Quick run").click()
            dialog = page.get_by_role("dialog", name="Run Deployment")
            dialog.wait_for()
        with step(page, shots, "3-prefect-run-created"):
            dialog.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text("Flow run created").wait_for()
            page.get_by_role("button", name="View run").click()
            page.wait_for_url(re.compile(rf".*/runs/flow-run/{UUID}"))
        flow_run_id = re.search(rf"/runs/flow-run/({UUID})", page.url).group(1)  # type: ignore[union-attr]
        start = time.monotonic()
        while not (flow_run := read_flow_run(flow_run_id)).state.is_final():
            if time.monotonic() - start > RUN_TIMEOUT_S:
                pytest.fail(
                    f"flow run {flow_run_id} still {flow_run.state.name} after {RUN_TIMEOUT_S} s;"
                    f" serve log:\n{tail(served / 'serve.log')}"
                )
            time.sleep(2)
        with step(page, shots, "4-prefect-flow-run-finished"):
            page.reload()
            page.get_by_text(flow_run.state.name, exact=True).first.wait_for()
        return {
            "id": flow_run_id,
            "url": page.url.split("?")[0],
            "flow_run": flow_run,
            "deployment": deployment,
            "seconds": time.monotonic() - start,
        }
    finally:
        context.close()


def test_deployment_triggered_from_prefect_ui_completes(ui_run, served):
    flow_run = ui_run["flow_run"]
    assert flow_run.deployment_id == ui_run["deployment"].id
    assert {k: flow_run.parameters[k] for k in ("topic", "profile")} == {
        "topic": "ridge",
        "profile": "quick",
    }
    assert flow_run.state.is_completed(), (
        f"flow run {ui_run['id']} ended {flow_run.state.name}: {flow_run.state.message}\n"
        f"serve log:\n{tail(served / 'serve.log')}"
    )
    # no out_dir from the UI: $TOPICLAB_HOME/results/<timestamp>, not the serve folder
    assert not (served / "results").exists()
    home = Path(os.environ["TOPICLAB_HOME"])
    metrics = json.loads((home / "results" / "latest" / "ridge" / "metrics.json").read_text())
    assert metrics["topic"] == "ridge" and metrics["profile"] == "quick"
    assert metrics["links"]["runs"]["mlflow"] == mlflow_run_of(ui_run["id"])[1].info.run_id


def mlflow_run_of(flow_run_id: str) -> tuple[str, Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("topiclab-ridge")
    assert experiment is not None, "no MLflow experiment topiclab-ridge"
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.prefect_flow_run_id = '{flow_run_id}'"
    )
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, f"MLflow runs tagged with flow run {flow_run_id}: {runs}"
    return experiment.experiment_id, parents[0]


def test_mlflow_ui_shows_the_run_and_its_metrics(ui_run, servers, page, shots):
    assert ui_run["flow_run"].state.is_completed()
    experiment_id, run = mlflow_run_of(ui_run["id"])
    assert run.info.status == "FINISHED" and "eval/test_mse" in run.data.metrics
    with step(page, shots, "5-mlflow-runs-table"):
        page.goto(f"{servers['mlflow']}/#/experiments/{experiment_id}/runs")
        link = page.get_by_role("link", name=run.info.run_name, exact=True)
        link.first.wait_for()
    with step(page, shots, "6-mlflow-run-page"):
        link.first.click()
        page.wait_for_url(re.compile(rf".*/runs/{run.info.run_id}.*"))
        metric = page.get_by_text("eval/test_mse", exact=True).first
        metric.wait_for()
        metric.scroll_into_view_if_needed()


def test_prefect_ui_shows_the_result_artifact(ui_run, servers, page, shots):
    assert ui_run["flow_run"].state.is_completed()
    with step(page, shots, "7-prefect-flow-run-artifacts"):
        page.goto(ui_run["url"])
        page.get_by_role("tab", name="Artifacts").click()
        card = page.get_by_text("ridge-results", exact=True).first
        card.wait_for()
    with step(page, shots, "8-prefect-artifact-ridge-results"):
        card.click()
        page.get_by_text("metric: test_mse", exact=True).first.wait_for()
