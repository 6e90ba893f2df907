"""Tests never autoload third-party plugins, draw off-screen, and use one torch thread.

One thread: on a shared 2-core machine torch's intra-op threads spin against other work, and
the small tensors here run up to 10x slower with two threads than with one.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch

torch.set_num_threads(1)
