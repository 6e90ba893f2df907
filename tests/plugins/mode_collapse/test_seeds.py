"""Every topic seed gives the trainers a seed they accept (a tester's find: 1000 * seed + run
went past 2^31 − 1 from seed 2,147,484 on, and the train stage failed with the trainer's bound).

PYTHONPATH=$PWD .venv/bin/pytest tests/plugins/mode_collapse/test_seeds.py -q
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from topiclab.core.config import resolve_config
from topiclab.core.registry import get_registry
from topiclab.nn.generative import GENERATIVE_TASK
from topiclab.plugins.mode_collapse.config import ModeCollapseConfig
from topiclab.plugins.mode_collapse.train import run_options


def test_the_largest_seed_gives_each_run_a_seed_its_trainer_accepts() -> None:
    registry = get_registry()
    ctx: Any = SimpleNamespace(registry=registry)
    for seed in (2**31 - 1, 2_147_484):
        cfg = resolve_config(registry.topic("mode-collapse"), "quick", overrides=[f"seed={seed}"])
        assert isinstance(cfg, ModeCollapseConfig)
        for key in cfg.trainers:
            for run in range(3):
                options = run_options(ctx, cfg, key, run)
                registry.trainer(key, task=GENERATIVE_TASK).create(options)
    cfg = resolve_config(registry.topic("mode-collapse"), "quick", overrides=["seed=3"])
    assert run_options(ctx, cfg, "gan", 1)["seed"] == 3001  # the numbers so far kept
