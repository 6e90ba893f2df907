"""Real-browser tests of the user's workflow: Prefect UI -> run -> MLflow UI, Prefect artifacts.

``topiclab ui`` (a Prefect server and the MLflow UI) on free ports, ``topiclab serve --profile
quick`` in a subprocess, and Chromium driven by Playwright:

1. the ``ridge`` deployment's custom-run form offers ``topic`` as a drop-down; the deployment
   is triggered from the Prefect UI (Deployments -> ridge -> Run -> Quick run -> Run), its flow
   run completes, and its logs show the trainer's progress;
2. the MLflow UI opens the experiment on its training runs (not the GenAI pages), and the run
   page shows the run's description and the metrics grouped by section;
3. the flow run's "Artifacts" tab in the Prefect UI shows the ``ridge-report`` Markdown;
4. the report and the page of all runs (``results/index.html``) render in Chromium.

Each UI step leaves a screenshot in the module's ``screenshots`` temp folder (printed with -s);
with ``TOPICLAB_DOCS_IMAGES=docs/images`` the ones the docs show are copied there too.
Skipped without /usr/bin/chromium unless ``TOPICLAB_REQUIRE_BROWSER=1`` (CI), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support.services import (
    alive,
    chromium_browser,
    descendants,
    free_port,
    prefect_pointed_at,
    require_chromium,
    screenshot_step,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

UI_TIMEOUT_MS = 120_000  # a page of either UI can take a minute to render on a loaded 2-core box
RUN_TIMEOUT_S = 240
# Screenshots the README and docs/ show, copied to $TOPICLAB_DOCS_IMAGES when it is set.
DOCS_IMAGES = {
    "2b-prefect-custom-run-form": "prefect-run-form.png",
    "4b-prefect-flow-run-logs": "prefect-task-logs.png",
    "5-mlflow-runs-table": "mlflow-runs.png",
    "6-mlflow-run-page": "mlflow-run.png",
    "8-prefect-artifact-ridge-report": "prefect-report-artifact.png",
    "9-report": "report.png",
    "10-results-home": "results-home.png",
}
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
def servers(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``topiclab ui`` as a user starts it; ``PREFECT_API_URL`` points at it for this module.

    At the end it gets SIGTERM, as ``kill <pid>`` sends: it must exit 143 within 30 s and take
    every process it started along (the MLflow server's workers included), leaving none behind.
    """
    from prefect.settings import PREFECT_API_URL

    prefect_port, mlflow_port = free_port(), free_port()
    urls = {
        "prefect": f"http://127.0.0.1:{prefect_port}",
        "mlflow": f"http://127.0.0.1:{mlflow_port}",
    }
    ports = ["--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port)]
    log = tmp_path_factory.mktemp("ui") / "ui.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "topiclab.app.cli", "ui", *ports],
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_healthy(proc, log, [f"{urls['prefect']}/api/health", f"{urls['mlflow']}/health"])
        with pytest.MonkeyPatch.context() as mp:
            api = f"{urls['prefect']}/api"
            mp.setenv("PREFECT_API_URL", api)  # for the `topiclab serve` subprocess
            with prefect_pointed_at({PREFECT_API_URL: api}):  # this process's client
                yield urls
    finally:
        started = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"`topiclab ui` still running 30 s after SIGTERM:\n{tail(log)}")
        time.sleep(1)  # a killed child's own children may need a moment
        left = sorted(pid for pid in started if alive(pid))
        assert code == 143, tail(log)
        assert not left, f"`topiclab ui` left processes behind: {left}"


def wait_healthy(proc: subprocess.Popen[bytes], log: Path, health: list[str]) -> None:
    from topiclab.app.servers import healthy

    deadline = time.monotonic() + 180
    while not all(healthy(url) for url in health):
        if proc.poll() is not None:
            pytest.fail(f"`topiclab ui` exited with {proc.returncode}:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"`topiclab ui` not healthy in 180 s:\n{tail(log)}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def served(servers: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``topiclab serve --profile quick`` in its own process group; yields its working folder.

    Its working folder is a temp folder; runs triggered from the UI (no ``out_dir``) must
    still write ``$TOPICLAB_HOME/results/<timestamp>``, not into that folder.
    """
    from topiclab.core.stages import work_root

    # The run must train (its progress lines are checked), not reuse the ridge stages that
    # earlier tests of this session cached in the shared home.
    shutil.rmtree(work_root() / "ridge", ignore_errors=True)
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


# MLflow's assistant panel opens by itself on a first visit and hides half the page.
NO_ASSISTANT = (
    "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"
    "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(NO_ASSISTANT)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.set_default_navigation_timeout(UI_TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


@contextmanager
def step(page: Any, shots: Path, name: str) -> Iterator[None]:
    """Screenshot after the step (see ``screenshot_step``); the ones the docs show are copied."""
    with screenshot_step(page, shots, name):
        yield
    docs = os.environ.get("TOPICLAB_DOCS_IMAGES")
    if docs and name in DOCS_IMAGES:
        shutil.copyfile(shots / f"{name}.png", Path(docs) / DOCS_IMAGES[name])


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
        with step(page, shots, "4b-prefect-flow-run-logs"):
            # the trainer's progress, logged by the train task (a line every tenth of the steps)
            page.get_by_text(re.compile(r"ridge gd: step 150/150 loss=")).first.wait_for()
        return {
            "id": flow_run_id,
            "url": page.url.split("?")[0],
            "flow_run": flow_run,
            "deployment": deployment,
            "seconds": time.monotonic() - start,
        }
    finally:
        context.close()


def test_custom_run_form_offers_the_topics_as_a_drop_down(ui_run, servers, page, shots):
    """The deployment's parameter schema has an enum of the registered topics: the run form
    shows a drop-down, not a text box."""
    deployment = ui_run["deployment"]
    with step(page, shots, "2b-prefect-custom-run-form"):
        # through the sidebar: on a page opened by its address the Run menu's items have no
        # menuitem role
        page.goto(servers["prefect"])
        page.get_by_text("Deployments", exact=True).first.click()
        page.get_by_role("link", name="ridge", exact=True).click()
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Custom run").click()
        page.wait_for_url(re.compile(rf".*/deployments/deployment/{deployment.id}/run"))
        topic_box = page.get_by_role("button", name="Select topic")
        assert topic_box.inner_text() == "ridge"
        topic_box.click()
        page.get_by_role("option", name="causal-iv", exact=True).wait_for()


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


def test_mlflow_ui_opens_on_training_runs_with_description_and_charts(ui_run, servers, page, shots):
    from topiclab.app.servers import mlflow_app_installed

    assert mlflow_app_installed(), "MLflow does not find --app-name topiclab: pip install -e ."
    assert ui_run["flow_run"].state.is_completed()
    experiment_id, run = mlflow_run_of(ui_run["id"])
    assert run.info.status == "FINISHED" and "eval/test_mse" in run.data.metrics
    with step(page, shots, "5-mlflow-runs-table"):
        # the experiment's own address, as MLflow's experiment list links it: no parameter
        page.goto(f"{servers['mlflow']}/#/experiments/{experiment_id}")
        link = page.get_by_role("link", name=run.info.run_name, exact=True)
        link.first.wait_for()  # the training runs table, not the GenAI overview
        assert page.evaluate("localStorage.getItem('mlflow.workflowType_v1')") == (
            '"machine_learning"'
        )
    with step(page, shots, "6-mlflow-run-page"):
        link.first.click()
        page.wait_for_url(re.compile(rf".*/runs/{run.info.run_id}.*"))
        page.get_by_text("Claims: 2/2 confirmed").first.wait_for()  # the run's description
        page.get_by_text("eval/test_mse", exact=True).first.wait_for()
    with step(page, shots, "6b-mlflow-run-charts"):
        page.get_by_role("tab", name="Model metrics").click()
        for section in ("train", "eval", "claims"):  # charts grouped by the key's prefix
            page.get_by_text(section, exact=True).first.wait_for()


def test_prefect_ui_shows_the_result_artifact(ui_run, servers, page, shots):
    assert ui_run["flow_run"].state.is_completed()
    with step(page, shots, "7-prefect-flow-run-artifacts"):
        page.goto(ui_run["url"])
        # Prefect 3.9 serves pages of two UIs: a V2 tab, or a V1 list item without a role
        tab = page.get_by_role("tab", name="Artifacts").or_(page.locator("li.p-tab#artifacts"))
        tab.first.click()
        card = page.get_by_text("ridge-report", exact=True).first
        card.wait_for()
        page.get_by_text("ridge-claims", exact=True).first.wait_for()
    with step(page, shots, "8-prefect-artifact-ridge-report"):
        card.click()
        page.get_by_text(re.compile(r"ridge: 2/2 claims confirmed")).first.wait_for()
        page.get_by_text("test_mse", exact=True).first.wait_for()


def test_report_and_results_home_render(ui_run, page, shots):
    """The page of all runs lists the UI-triggered run; its report has the run header, figure
    captions, and never makes the page wider than the window."""
    assert ui_run["flow_run"].state.is_completed()
    home = Path(os.environ["TOPICLAB_HOME"]) / "results" / "index.html"
    with step(page, shots, "10-results-home"):
        page.goto(home.as_uri())
        page.select_option("select#topic", "ridge")
        row = page.locator("tbody tr:not([hidden])").first
        row.wait_for()
        assert "ridge" in row.inner_text() and "2/2" in row.inner_text()
    with step(page, shots, "9-report"):
        row.get_by_role("link", name="report").click()
        page.locator(".run-header").get_by_text("seed 0").wait_for()
        assert page.locator("figcaption").first.inner_text().startswith("Figure 1.")
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"the report is wider than the window: {width}"
