"""causal-recsys values that passed validation and then failed mid-run (a tester's finds) are
refused in one line naming the key; a world that gives no click is refused by the generate
stage; every seed gives the recommenders a valid seed; a front-door estimator without the
interventional means fails the primer's claim, not the run.

PYTHONPATH=$PWD .venv/bin/pytest tests/plugins/causal_recsys/test_config.py -q
"""

from __future__ import annotations

from pathlib import Path

import pytest

from topiclab.core.config import resolve_config
from topiclab.core.errors import ConfigError, TopiclabError
from topiclab.core.stages import run_direct
from topiclab.plugins.causal_recsys.topic import CausalRecsysTopic


def resolve(override: str) -> object:
    return resolve_config(CausalRecsysTopic(), "quick", overrides=[override])


@pytest.mark.parametrize("override", ["world.test_per_user=151", "world.test_per_user=100000"])
def test_more_test_items_per_user_than_items_is_refused(override: str) -> None:
    # quick has 150 items; numpy's "kth(=999) out of bounds (150)" came from the generate stage
    with pytest.raises(ConfigError) as info:
        resolve(override)
    text = str(info.value)
    assert text.startswith("invalid value for 'world.test_per_user'") and "\n" not in text, text
    assert "world.n_items (150)" in text, text


def test_every_item_once_is_accepted() -> None:
    resolve("world.test_per_user=150")


def test_a_log_without_a_click_is_one_line_naming_the_options(tmp_path: Path) -> None:
    # A bias of -20 leaves no click: the run used to finish (exit 0) with every ranking metric
    # NaN and the recommenders trained on nothing.
    overrides = ["world.preference_bias=-20", "world.seeds=1"]
    with pytest.raises(TopiclabError) as info:
        run_direct("causal-recsys", "quick", overrides=overrides, root=tmp_path)
    text = str(info.value)
    assert "no click" in text and "world.preference_bias (-20.0)" in text, text
    assert "\n" not in text, text


def test_a_user_item_matrix_beyond_memory_is_refused() -> None:
    # The worlds draw dense users × items matrices (exposure, test keys, true preferences):
    # 200,000 × 200,000 passed the bounds and asked for 320 GB per matrix.
    with pytest.raises(ConfigError) as info:
        resolve_config(
            CausalRecsysTopic(),
            "full",
            overrides=["world.n_users=200000", "world.n_items=200000"],
        )
    text = str(info.value)
    assert text.startswith("invalid value for 'world': 200,000 users × 200,000 items"), text
    resolve_config(CausalRecsysTopic(), "full")  # 10,000 × 5,000


def test_every_seed_gives_each_recommender_a_seed_it_accepts() -> None:
    # seed * 1000 + world went past the trainers' bound (2^31 − 1) from seed 2,147,484 on:
    # every recommender failed, and the run still finished "ok" with five claims fewer.
    from topiclab.core.registry import get_registry
    from topiclab.nn.recommenders import RECOMMENDER_TASK
    from topiclab.plugins.causal_recsys.config import CausalRecsysConfig
    from topiclab.plugins.causal_recsys.train import options

    registry = get_registry()
    for seed in (2**31 - 1, 2_147_484):
        cfg = resolve(f"seed={seed}")
        assert isinstance(cfg, CausalRecsysConfig)
        for key in cfg.recommenders:
            for rep in range(cfg.world.seeds):
                registry.trainer(key, task=RECOMMENDER_TASK).create(options(cfg, key, rep))
    small = resolve("seed=3")
    assert isinstance(small, CausalRecsysConfig)
    assert options(small, "pd", 1)["seed"] == 3001  # the numbers of every seed so far kept


def test_a_front_door_estimator_without_interventional_means_fails_the_primer_claim_only(
    tmp_path: Path,
) -> None:
    # The linear two-stage front door reports the effect, not E[Y | do(T=t)]: the evaluate
    # stage failed with KeyError 'E[Y|do(T=1)]' after the whole training.
    overrides = ['estimators.frontdoor="frontdoor.two_stage_regression"', "world.seeds=1"]
    results = run_direct("causal-recsys", "quick", overrides=overrides, root=tmp_path)
    claims = {c.id: c for c in results["evaluate"].claims}
    primer = claims["primer_front_door"]
    assert not primer.passed and "primer_do1 is nan" in primer.note, primer
    assert claims["frontdoor_recovers"].note == ""  # the SCM's front door still estimated
