"""Tests of the shared causal estimator library: no third-party plugins, no display."""

import os

os.environ.setdefault("TOPICLAB_DISABLE_PLUGIN_AUTOLOAD", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
