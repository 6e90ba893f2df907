"""A Ctrl-C during the evaluate stage's digits classifier fit ends the run.

scikit-learn's MLP catches KeyboardInterrupt in its training loop and returns the half-trained
model; seen in a quick diffusion run: a Ctrl-C there was lost, the run scored digits with that
model, cached the evaluation and exited 0. Here a SIGINT to this process arrives while a long
fit runs (the same code path, with more iterations than the stage asks for).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import numpy as np
import pytest
import sklearn.neural_network
from sklearn.neural_network import MLPClassifier

from topiclab.plugins.diffusion.evaluate import digits_classifier


def endless_mlp(**options: Any) -> MLPClassifier:
    """The stage's classifier, but still fitting when the signal comes."""
    options |= {"max_iter": 10**6, "tol": 0.0, "n_iter_no_change": 10**6}
    return MLPClassifier(**options)


def test_ctrl_c_during_the_digits_classifier_fit_is_not_swallowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sklearn.neural_network, "MLPClassifier", endless_mlp)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a foreground job's
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 1, 8, 8)), rng.integers(0, 10, 200)
    ctrl_c = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    ctrl_c.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            digits_classifier(x, y, seed=0)
    finally:
        ctrl_c.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - start < 5.0
