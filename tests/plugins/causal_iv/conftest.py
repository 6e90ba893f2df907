"""The causal-iv topic's tests: built-in plugins only, no display, no progress bars."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOPICLAB_NO_PROGRESS", "1")
