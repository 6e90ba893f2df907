"""Secrets that topiclab reads from the environment and must never write anywhere.

    public_url("http://pipeline:pw@mlflow:5000")   # "http://mlflow:5000": for links and logs
    redact("token is s3cret")                       # "token is ***" when s3cret is a secret

The passwords of a team setup (deploy/README.md) reach a worker as environment variables:
MLflow's client reads ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, Prefect's
``PREFECT_API_AUTH_STRING``. Some users put them into URLs instead (``http://user:pw@host``).
Everything topiclab writes for people to read (MLflow params, tags and descriptions, Prefect
artifacts, reports, the terminal summary) passes links through ``public_url`` and free text
through ``redact``.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

# Variables whose whole value is a secret.
SECRET_VARIABLES = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "PREFECT_API_AUTH_STRING",
    "PREFECT_SERVER_API_AUTH_STRING",
    "PREFECT_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
)
# Variables holding URLs that may carry a password.
URL_VARIABLES = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "PREFECT_API_URL",
    "PREFECT_API_DATABASE_CONNECTION_URL",
)
MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words and digits


def public_url(url: str) -> str:
    """``url`` without ``user:password@``; anything that is not a URL comes back unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host))


def secret_values() -> list[str]:
    """The secrets set in this process's environment, longest first."""
    found = set()
    for name in SECRET_VARIABLES:
        value = os.environ.get(name, "")
        found.add(value)
        if ":" in value:  # an auth string "user:password": the password alone too
            found.add(value.split(":", 1)[1])
    for name in URL_VARIABLES:
        try:
            found.add(urlsplit(os.environ.get(name, "")).password or "")
        except ValueError:
            continue
    return sorted((v for v in found if len(v) >= _MIN_LENGTH), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every secret of the environment masked (passwords in the URL variables
    included)."""
    for value in secret_values():
        text = text.replace(value, MASK)
    return text
