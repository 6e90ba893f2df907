"""The llama topic's tests load the built-in plugins only and draw off-screen."""

import os

os.environ.setdefault("TOPICLAB_DISABLE_PLUGIN_AUTOLOAD", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOPICLAB_NO_PROGRESS", "1")
