"""The llama topic's tests load the built-in plugins only and draw off-screen."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOPICLAB_NO_PROGRESS", "1")
