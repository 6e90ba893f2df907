"""Tests of the shared causal estimator library: no third-party plugins, no display."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
