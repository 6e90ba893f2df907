"""The mode-collapse profiles and the Metz et al. 2017 measurement's config file.

.venv/bin/pytest tests/plugins/mode_collapse/test_config.py -q
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.registry import get_registry
from topiclab.plugins.mode_collapse import train as train_module
from topiclab.plugins.mode_collapse.config import (
    GRID_GAN,
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


def test_metz_files_keep_their_gans_on_the_grid():
    """The standard profile's `grid_options` must not leak into a measurement: on the grid
    each file's GANs get its own options too."""
    for toml, measured in (
        (METZ_TOML, METZ_2017_TRAINERS),
        (NOTEBOOK_TOML, METZ_NOTEBOOK_TRAINERS),
    ):
        cfg = resolve_config(ModeCollapseTopic, "standard", toml)
        for key in cfg.methods("grid"):
            assert cfg.options(key, "grid") == measured[key], (toml.name, key)


def test_grid_options_merge_on_the_grid_only():
    cfg = resolve_config(
        ModeCollapseTopic, "quick", overrides=['grid_options={"gan": {"lr_min_frac": 0.5}}']
    )
    assert cfg.options("gan", "ring") == cfg.trainers["gan"]
    assert cfg.options("gan", "grid") == cfg.trainers["gan"] | {"lr_min_frac": 0.5}
    assert cfg.options("pacgan", "grid") == cfg.trainers["pacgan"] | cfg.grid_options.get(
        "pacgan", {}
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('grid_options={"gann": {"steps": 10}}', "invalid value for 'grid_options'"),
        ('grid_options={"gan": {"lr_min_frac": 2}}', "grid_options.gan"),
        ('grid_options={"gan": {"no_such_option": 1}}', "grid_options.gan"),
    ],
)
def test_bad_grid_options_fail_with_one_line(override: str, message: str):
    with pytest.raises(ConfigError, match=message) as err:
        resolve_config(ModeCollapseTopic, "quick", overrides=[override])
    assert "\n" not in str(err.value)


def test_the_train_stage_fits_the_grid_with_its_options():
    from topiclab.plugins.mode_collapse.train import run_options

    cfg = resolve_config(
        ModeCollapseTopic, "quick", overrides=['grid_options={"gan": {"lr_min_frac": 0.5}}']
    )
    ctx: Any = SimpleNamespace(registry=get_registry())
    assert run_options(ctx, cfg, "gan", 0, "grid")["lr_min_frac"] == 0.5
    ring = run_options(ctx, cfg, "gan", 0, "ring")
    assert ring["lr_min_frac"] == cfg.trainers["gan"]["lr_min_frac"] != 0.5


@pytest.mark.parametrize(
    ("override", "unused"),
    [('grid_trainers=["gan"]', ["pacgan"]), ('datasets=["ring"]', ["gan", "pacgan"])],
)
def test_narrowing_standard_leaves_its_grid_options_unused_and_warns(
    override: str, unused: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """`standard`'s grid options name the GAN and PacGAN; dropping either from the grid must
    not need `grid_options` cleared too, but the train stage says which go unused."""
    cfg = resolve_config(ModeCollapseTopic, "standard", overrides=[override])
    assert cfg.unused_grid_options() == unused
    ctx: Any = SimpleNamespace(registry=get_registry(), workdir=tmp_path)
    files = {f"{d}_train": "unread.npy" for d in ("ring", "grid", "stacked")}
    data: Any = SimpleNamespace(files=files | {"pm_x": "x.npy", "pm_y": "y.npy"})
    with caplog.at_level(logging.WARNING, "topiclab.plugins.mode_collapse.train"):
        train_module.jobs(ctx, cfg, data)
    assert f"grid_options for {unused} go unused" in caplog.text
    caplog.clear()
    train_module.jobs(ctx, resolve_config(ModeCollapseTopic, "standard"), data)
    assert "go unused" not in caplog.text


def test_standard_with_fewer_grid_methods_and_their_options():
    gan_only = ['grid_trainers=["gan"]', f"grid_options={json.dumps({'gan': GRID_GAN})}"]
    cfg = resolve_config(ModeCollapseTopic, "standard", overrides=gan_only)
    assert cfg.methods("grid") == ["gan"]
    assert cfg.options("gan", "grid") == cfg.trainers["gan"] | GRID_GAN
    no_grid = ['datasets=["ring"]', "grid_options={}"]
    ring = resolve_config(ModeCollapseTopic, "standard", overrides=no_grid)
    assert ring.datasets == ["ring"] and ring.grid_options == {}
    assert cfg.unused_grid_options() == ring.unused_grid_options() == []


@pytest.mark.parametrize(
    "override, key",
    [
        # Every data set here is rows (2-D points, 192-D stacked digits): the DDPM's U-Net
        # failed in the train stage ("AssertionError: the U-Net takes (n, c, h, w) images").
        ('trainers.ddpm={"denoiser": "unet"}', "trainers.ddpm.denoiser"),
        ('grid_options={"ddpm": {"denoiser": "unet"}}', "grid_options.ddpm.denoiser"),
        ('stacked.trainers.ddpm={"denoiser": "unet"}', "stacked.trainers.ddpm.denoiser"),
    ],
)
def test_a_denoiser_for_images_is_refused_on_rows(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(ModeCollapseTopic, "quick", overrides=[override])
    text = str(info.value)
    assert text.startswith(f"invalid value for '{key}': ") and "\n" not in text, text


def test_the_rows_denoiser_is_accepted_by_name() -> None:
    cfg = resolve_config(
        ModeCollapseTopic, "quick", overrides=['trainers.ddpm={"denoiser": "mlp"}']
    )
    assert cfg.trainers["ddpm"]["denoiser"] == "mlp"
