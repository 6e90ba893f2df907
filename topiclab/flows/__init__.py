"""Prefect flows: the topic pipeline, the suite, deployments."""
