"""MLflow's own server app, opening on the "Model training" view instead of GenAI.

    mlflow server --app-name topiclab ...     # what `topiclab ui` runs (entry point mlflow.app)

MLflow 3.17's UI chooses between its GenAI pages and its model-training pages with one
browser-wide switch: the ``workflowType`` URL parameter, else the ``mlflow.workflowType_v1``
key in the browser's localStorage, else GenAI. The experiment tag ``mlflow.experimentKind`` is
not read (its feature flag is always on in the built UI), so no server-side setting changes it.
This app is MLflow's, unchanged, except that its index page sets that key to model training
when the browser has none: a user's own choice with the toggle is kept.
"""

from __future__ import annotations

from typing import Any

from flask import request
from mlflow.server import app as flask_app
from mlflow.server.fastapi_app import app

__all__ = ["DEFAULT_VIEW_SCRIPT", "app"]

WORKFLOW_KEY = "mlflow.workflowType_v1"  # useLocalStorage({key, version: 1}) in MLflow's UI
DEFAULT_VIEW_SCRIPT = (
    f"<script>try{{if(localStorage.getItem('{WORKFLOW_KEY}')===null)"
    f"localStorage.setItem('{WORKFLOW_KEY}','\"machine_learning\"')}}catch(e){{}}</script>"
)


@flask_app.after_request
def _default_to_model_training(response: Any) -> Any:
    """Put the script first in ``<head>`` of the single page's HTML, before MLflow's JS reads
    the key."""
    if request.path.rstrip("/") not in ("", "/index.html") or response.mimetype != "text/html":
        return response
    response.direct_passthrough = False  # a static file is streamed; read it whole (~5 kB)
    page = response.get_data(as_text=True)
    if WORKFLOW_KEY not in page:
        response.set_data(page.replace("<head>", f"<head>{DEFAULT_VIEW_SCRIPT}", 1))
    return response
