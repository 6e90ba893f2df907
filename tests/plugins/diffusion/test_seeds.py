"""Every topic seed gives the trainers a seed they accept (a tester's find: seed * 100 + i went
past 2^31 − 1 from seed 21,474,837 on, and the train stage failed with the trainer's bound).

PYTHONPATH=$PWD .venv/bin/pytest tests/plugins/diffusion/test_seeds.py -q
"""

from __future__ import annotations

from topiclab.core.config import resolve_config
from topiclab.core.registry import get_registry
from topiclab.nn.generative import GENERATIVE_TASK
from topiclab.plugins.diffusion.config import DiffusionConfig
from topiclab.plugins.diffusion.train import trainer_options, trainer_seed


def test_the_largest_seed_gives_each_fit_a_seed_the_trainer_accepts() -> None:
    registry = get_registry()
    cfg = resolve_config(registry.topic("diffusion"), "quick", overrides=["seed=2147483647"])
    assert isinstance(cfg, DiffusionConfig)
    for i, image in enumerate([False, True]):
        options = trainer_options(cfg, trainer_seed(cfg.seed, i), image)
        registry.trainer("ddpm", task=GENERATIVE_TASK).create(options)
    assert trainer_seed(3, 1) == 301  # the numbers of every seed so far kept
