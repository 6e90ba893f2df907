"""The mode-collapse profiles and the Metz et al. 2017 measurement's config file.

.venv/bin/pytest tests/plugins/mode_collapse/test_config.py -q
"""

from __future__ import annotations

from pathlib import Path

from topiclab.core.config import resolve_config
from topiclab.plugins.mode_collapse.config import (
    METZ_2017_TRAINERS,
    METZ_NOTEBOOK_TRAINERS,
    STACKED_TRAINERS,
    STANDARD_TRAINERS,
)
from topiclab.plugins.mode_collapse.topic import ModeCollapseTopic

DOCS = Path(__file__).parents[3] / "docs/topics"
METZ_TOML = DOCS / "mode-collapse-metz-2017.toml"
NOTEBOOK_TOML = DOCS / "mode-collapse-metz-notebook.toml"


def test_metz_file_runs_standard_with_metz_2017_gans_only():
    """The docs' command (`--config` this file) trains exactly METZ_2017_TRAINERS on the ring
    and grid; every other trainer and the stacked-digits GAN keep the standard options."""
    cfg = resolve_config(ModeCollapseTopic, "standard", METZ_TOML)
    assert cfg.trainers == STANDARD_TRAINERS | METZ_2017_TRAINERS
    assert cfg.stacked.trainers == STACKED_TRAINERS


def test_notebook_file_runs_standard_with_the_notebooks_gans_only():
    """The same for Metz et al.'s notebook setup (METZ_NOTEBOOK_TRAINERS)."""
    cfg = resolve_config(ModeCollapseTopic, "standard", NOTEBOOK_TOML)
    assert cfg.trainers == STANDARD_TRAINERS | METZ_NOTEBOOK_TRAINERS
    assert cfg.stacked.trainers == STACKED_TRAINERS


def test_standard_is_not_a_metz_measurement():
    cfg = resolve_config(ModeCollapseTopic, "standard")
    for measured in (METZ_2017_TRAINERS, METZ_NOTEBOOK_TRAINERS):
        assert all(cfg.trainers[k] != v for k, v in measured.items())
