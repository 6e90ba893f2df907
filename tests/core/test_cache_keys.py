"""What a stage key stands on besides config and code: the versions of the libraries that
compute it, and the keys of the upstream stages whose outputs it consumes (not the upstream's
report key). Key-level and fast; ``tests/flows/test_stage_keys.py`` runs the flows."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from topiclab.core import fingerprint
from topiclab.core.dag import consumed, find_output, identity
from topiclab.core.errors import TopiclabError
from topiclab.core.topic import StageResult


@pytest.fixture
def reg(plugin_env: pytest.MonkeyPatch) -> Any:
    from topiclab.core.registry import get_registry

    plugin_env.setenv("TOPICLAB_PLUGINS", "support.stage_reads")
    return get_registry()


@pytest.fixture
def fresh_versions() -> Any:
    fingerprint.library_versions.cache_clear()
    yield
    fingerprint.library_versions.cache_clear()


def test_a_library_upgrade_changes_every_stage_key(reg, fresh_versions, monkeypatch) -> None:
    before = identity(reg, "counted", "quick").stage_keys
    real = metadata.version

    def upgraded(name: str) -> str:
        return "99.0" if name == "torch" else real(name)

    monkeypatch.setattr(fingerprint.metadata, "version", upgraded)
    assert identity(reg, "counted", "quick").stage_keys == before  # memoised per process
    fingerprint.library_versions.cache_clear()
    after = identity(reg, "counted", "quick").stage_keys
    assert all(after[s] != before[s] for s in before)


def test_a_topic_names_the_libraries_its_numbers_depend_on(reg, fresh_versions) -> None:
    topic = reg.topics["counted"]
    versions = dict(fingerprint.library_versions((*fingerprint.KEY_LIBRARIES, "no-such-dist")))
    assert versions["numpy"] == metadata.version("numpy") and versions["no-such-dist"] == "absent"
    assert {"python", "torch", "scipy", "scikit-learn"} <= set(versions)
    base = identity(reg, "counted", "quick").stage_keys
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(topic, "libraries", ("pluggy",), raising=False)
        assert identity(reg, "counted", "quick").stage_keys != base


def test_a_plugin_version_changes_its_topics_keys(reg) -> None:
    info = next(p for p in reg.plugins.infos if p.name == "support.stage_reads")
    base = identity(reg, "counted", "quick").stage_keys
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(info, "version", "2.0")
        assert all(v != base[s] for s, v in identity(reg, "counted", "quick").stage_keys.items())


def test_downstream_keys_follow_the_upstream_stage_they_consume(reg) -> None:
    base = identity(reg, "counted-probe", "quick").stage_keys
    evaluation = identity(reg, "counted-probe", "quick", ["counted:eval.test_share=0.3"])
    assert evaluation.stage_keys == base  # counted's report key changed, its train key did not
    assert evaluation.upstream["counted"].cache_key != identity(reg, "counted", "quick").cache_key
    for option in ("counted:train.steps=7", "counted:data.n=300", "counted:seed=3"):
        changed = identity(reg, "counted-probe", "quick", [option]).stage_keys
        assert all(changed[s] != base[s] for s in base), option


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("counted", "consumes 'counted'; write it as 'topic:output' or 'topic:stage:output'"),
        ("counted:trian:mu", "consumes 'counted:trian:mu': unknown stage 'trian'; choose from: "),
        ("counted::mu", "write it as 'topic:output' or 'topic:stage:output'"),
    ],
)
def test_a_wrong_consumes_declaration_is_one_line(reg, monkeypatch, ref, message) -> None:
    monkeypatch.setattr(reg.topics["counted-probe"], "consumes", {"mu": ref})
    with pytest.raises(TopiclabError) as err:
        consumed(reg, "counted-probe")
    line = str(err.value)
    assert line.startswith("topic 'counted-probe' ") and message in line and "\n" not in line


def test_a_consumed_output_must_come_from_the_declared_stage_or_before(tmp_path: Path) -> None:
    results = {
        "generate": StageResult(files={"data": str(tmp_path / "d.npy")}),
        "train": StageResult(models={"model": str(tmp_path / "m.pt")}),
        "evaluate": StageResult(files={"scores": str(tmp_path / "s.csv")}),
    }
    assert find_output("up", results, "data", "train") == ("generate", tmp_path / "d.npy")
    assert find_output("up", results, "model", "train") == ("train", tmp_path / "m.pt")
    with pytest.raises(TopiclabError) as err:
        find_output("up", results, "scores", "train")
    assert str(err.value) == (
        "output 'scores' of topic 'up' comes from its evaluate stage, after the train stage "
        "consumed; declare it as 'up:evaluate:scores'"
    )
    with pytest.raises(TopiclabError, match="output 'nope' of topic 'up' does not exist"):
        find_output("up", results, "nope", "train")
