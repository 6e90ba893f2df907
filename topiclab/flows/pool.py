"""A suite on a work pool: each topic a run of its own deployment, for any worker to take.

    prefect --no-prompt deploy --all --prefect-file deploy/prefect.yaml
    prefect worker start --pool topiclab --limit 2      # on each of several machines
    prefect deployment run topiclab-suite/all-topics --param profile=quick

A suite started from a deployment on a work pool (``all-topics`` in deploy/prefect.yaml) does
not run its topics in its own process: wave by wave of the topic DAG it creates a run of
``topic-pipeline/<topic>`` for each topic (Prefect's ``run_deployment``, linked to the suite's
run as a subflow) and waits for them, so every worker polling the pool can take some. A
consumer's run is created once its upstream runs have finished, and reuses their stage outputs
from the shared ``$TOPICLAB_HOME``; the suite reads each topic's ``metrics.json`` from the out
folder they share. A topic without a deployment runs inside the suite's run, as everywhere
else. Anywhere but on a work pool (``topiclab run --all``, ``topiclab serve``) nothing here
applies.
"""

from __future__ import annotations

import time
from typing import Any, cast

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

TOPIC_FLOW = "topic-pipeline"  # topic_pipeline's flow name: deployments are "<flow>/<topic>"
POLL_S = 2.0  # how often the suite asks the server about its topic runs


def work_pool() -> str | None:
    """The work pool this flow run came from, if it is a deployment's run on one."""
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    return run.work_pool_name if run is not None and run.deployment_id else None


def start_topic_runs(keys: list[str], parameters: dict[str, Any]) -> dict[str, FlowRun]:
    """A scheduled run of each topic's deployment (``parameters`` plus the topic), without
    waiting; topics that have no deployment are left out."""
    logger = get_run_logger()
    started: dict[str, FlowRun] = {}
    with get_client(sync_client=True) as client:
        for key in keys:
            name = f"{TOPIC_FLOW}/{key}"
            try:
                client.read_deployment_by_name(name)
            except ObjectNotFound:
                logger.warning("no deployment %s: topic %s runs in the suite's run", name, key)
                continue
            # timeout=0: return once scheduled; linked to this flow run as its subflow
            params = {**parameters, "topic": key}
            run = cast(FlowRun, run_deployment(name, parameters=params, timeout=0))
            logger.info("topic %s: flow run %s scheduled on the pool", key, run.id)
            started[key] = run
    return started


def wait_for_runs(started: dict[str, FlowRun]) -> dict[str, FlowRun]:
    """Poll until every run is in a final state; the runs as they ended, with the worker
    that ran each logged (its ``prefect.worker.name`` label)."""
    logger = get_run_logger()
    pending = {run.id: key for key, run in started.items()}
    ended: dict[str, FlowRun] = {}
    with get_client(sync_client=True) as client:
        while pending:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(pending)))
            )
            for run in runs:
                if run.state is not None and run.state.is_final():
                    key = pending.pop(run.id)
                    worker = run.labels.get("prefect.worker.name", "?")
                    logger.info("topic %s: %s on worker %s", key, run.state.name, worker)
                    ended[key] = run
            if pending:
                time.sleep(POLL_S)
    return {key: ended[key] for key in started}
