"""Defaults for running this folder alone; the root conftest sets the whole environment."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOPICLAB_NO_PROGRESS", "1")
