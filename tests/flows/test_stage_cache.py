"""The stage cache: damaged stages recompute, ``use_cache=False`` starts from an empty folder.

Stage-level tests call ``core.stages.run_stage`` (no Prefect); the three damage cases of issue 9
also go through the whole flow, since what matters there is what gets published.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from topiclab.core.manifest import DONE_MARKER
from topiclab.core.stages import StageOutcome, run_stage, stage_dir, work_root
from topiclab.core.topic import STAGES, StageResult


def _config(topic: str, profile: str, overrides: list[str]) -> dict:
    from topiclab.core.config import resolve_config
    from topiclab.core.registry import get_registry

    return resolve_config(get_registry().topics[topic], profile, overrides=overrides).model_dump(
        mode="json"
    )


def _stages(
    topic: str,
    config: dict,
    root: Path,
    until: str,
    use_cache: bool = True,
    run: dict | None = None,
    log: list[str] | None = None,
) -> dict[str, StageOutcome]:
    out: dict[str, StageOutcome] = {}
    for stage in STAGES[: STAGES.index(until) + 1]:
        outcome = run_stage(
            topic,
            stage,
            "quick",
            config,
            root / stage,
            [o.result for o in out.values()],
            run,
            use_cache=use_cache,
            log=(log.append if log is not None else print),
        )
        out[stage] = outcome
    return out


def test_marker_records_every_file(tmp_path: Path) -> None:
    config = _config("ridge", "quick", ["seed=41"])
    out = _stages("ridge", config, tmp_path, "evaluate")
    marker = json.loads((tmp_path / "evaluate" / DONE_MARKER).read_text())
    assert set(marker["files"]) == {"coefficients.csv", "coefficients.png"}
    assert all(len(r["sha256"]) == 64 and r["size"] > 0 for r in marker["files"].values())
    # Paths point at the final folder, not at the temporary one the stage wrote into.
    assert out["evaluate"].result.figures["coefficients"] == str(
        tmp_path / "evaluate" / "coefficients.png"
    )
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("*.old-*"))


@pytest.mark.parametrize(
    ("stage", "damage", "reason"),
    [
        ("generate", lambda p: p.write_bytes(p.read_bytes()[:100]), "data.npz has 100 bytes"),
        ("evaluate", lambda p: p.unlink(), "coefficients.png is missing"),
        ("train", lambda p: p.write_bytes(b"x" * p.stat().st_size), "weights.npy changed"),
    ],
)
def test_damaged_stage_is_recomputed_and_says_why(tmp_path, stage, damage, reason) -> None:
    config = _config("ridge", "quick", ["seed=42"])
    first = _stages("ridge", config, tmp_path, "evaluate")
    files = {"generate": "data.npz", "train": "weights.npy", "evaluate": "coefficients.png"}
    damage(tmp_path / stage / files[stage])
    log: list[str] = []
    again = _stages("ridge", config, tmp_path, "evaluate", log=log)
    assert [s for s, o in again.items() if not o.cached] == [stage]
    assert again[stage].result.metrics == first[stage].result.metrics
    assert any(reason in line and "recomputing" in line for line in log), log
    assert again[stage].result == first[stage].result
    assert all(o.cached for o in _stages("ridge", config, tmp_path, "evaluate").values())


def test_no_cache_starts_from_an_empty_folder(tmp_path: Path) -> None:
    config = _config("ridge", "quick", ["seed=43"])
    _stages("ridge", config, tmp_path, "generate")
    (tmp_path / "generate" / "left-over.txt").write_text("from an earlier run")
    (tmp_path / "generate.partial").mkdir()  # as a killed run leaves it
    (tmp_path / "generate.partial" / "half.bin").write_bytes(b"\0")
    again = _stages("ridge", config, tmp_path, "generate", use_cache=False)
    assert not again["generate"].cached and again["generate"].seconds > 0
    assert sorted(p.name for p in (tmp_path / "generate").iterdir()) == [DONE_MARKER, "data.npz"]
    assert not (tmp_path / "generate.partial").exists()


def test_no_cache_retrains_a_resumable_trainer(plugin_env, tmp_path: Path) -> None:
    """llama's trainer resumes from checkpoints in its folder: a recompute must not (issue 10)."""
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.step_recorder")
    from support import step_recorder

    config = _config("llama", "quick", [])
    _stages("llama", config, tmp_path, "train")
    step_recorder.STEPS.clear()
    again = _stages("llama", config, tmp_path, "train", use_cache=False, run={"links": {}})
    steps = config["train"]["steps"]
    assert [s for s, m in step_recorder.STEPS if "loss" in m] == list(range(steps))
    assert again["train"].result.metrics["train_seconds"] > 0.05
    assert again["train"].seconds > 0


def _home_stage(result: dict, stage: str) -> Path:
    return stage_dir(work_root(), "ridge", result["stage_keys"][stage], stage)


@pytest.fixture(scope="module")
def flow_run(prefect_harness, tmp_path_factory):
    from topiclab.core.registry import reset_registry
    from topiclab.flows.pipeline import topic_pipeline

    reset_registry()
    out = tmp_path_factory.mktemp("out")
    result = topic_pipeline("ridge", "quick", ["seed=44"], None, str(out))
    return result, out


@pytest.mark.e2e
def test_truncated_cached_report_is_rebuilt_not_published(flow_run) -> None:
    from topiclab.flows.pipeline import topic_pipeline

    result, out = flow_run
    report = _home_stage(result, "report") / "report.html"
    size = report.stat().st_size
    report.write_bytes(b"")
    again = topic_pipeline("ridge", "quick", ["seed=44"], None, str(out))
    assert again["cached_stages"] == ["generate", "train", "evaluate"]
    assert report.stat().st_size == size  # rebuilt whole
    published = (out / "ridge" / "report.html").read_text()  # its copy, with the run header
    assert 'class="run-header"' in published and published.rstrip().endswith("</html>")


@pytest.mark.e2e
def test_deleted_cached_figure_is_recomputed(flow_run) -> None:
    from topiclab.flows.pipeline import topic_pipeline

    result, out = flow_run
    (_home_stage(result, "evaluate") / "coefficients.png").unlink()
    again = topic_pipeline("ridge", "quick", ["seed=44"], None, str(out))
    assert "evaluate" not in again["cached_stages"]
    assert again["metrics"] == result["metrics"]
    assert (out / "ridge" / "figures" / "coefficients.png").stat().st_size > 0


@pytest.mark.e2e
def test_truncated_upstream_file_regenerates_it(flow_run) -> None:
    from topiclab.flows.pipeline import topic_pipeline

    result, out = flow_run
    data = _home_stage(result, "generate") / "data.npz"
    data.write_bytes(data.read_bytes()[:64])
    again = topic_pipeline("ridge", "quick", ["seed=44"], None, str(out), use_cache=True)
    assert "generate" not in again["cached_stages"]
    assert again["metrics"] == result["metrics"]
    import numpy as np

    assert np.load(data)["x"].shape[0] == 800  # a whole file again


def test_marker_keeps_non_finite_metrics_and_relocates_every_path(tmp_path: Path) -> None:
    """A NaN metric is a result (a claim fails on it), not a reason to lose the stage."""
    import math

    from topiclab.core.manifest import read_marker, write_marker
    from topiclab.core.stages import _relocate

    src, dst = tmp_path / "train.partial", tmp_path / "train"
    src.mkdir()
    (src / "w.npy").write_bytes(b"123")
    result = StageResult(
        metrics={"kl": math.nan, "big": math.inf},
        files={"w": str(src / "w.npy")},
        data={"nested": [{"path": str(src / "w.npy")}]},
    )
    moved = _relocate(result, src, dst)
    write_marker(src, moved)
    src.rename(dst)
    back, why = read_marker(dst)
    assert why == "" and back is not None
    assert math.isnan(back.metrics["kl"]) and back.metrics["big"] == math.inf
    assert back.files["w"] == str(dst / "w.npy")
    assert back.data["nested"][0]["path"] == str(dst / "w.npy")


def test_a_stage_that_continues_an_interrupted_run_says_so(tmp_path: Path) -> None:
    config = _config("ridge", "quick", ["seed=44"])
    _stages("ridge", config, tmp_path, "train")
    shutil.rmtree(tmp_path / "train")
    fresh = _stages("ridge", config, tmp_path, "train")["train"]
    assert fresh.reason == "not in the cache"  # an empty start says nothing more
    shutil.rmtree(tmp_path / "train")
    (tmp_path / "train.partial").mkdir()  # as a killed run leaves it
    (tmp_path / "train.partial" / "ckpt.pt").write_bytes(b"\0")
    again = _stages("ridge", config, tmp_path, "train")["train"]
    assert not again.cached
    assert (
        again.reason
        == "not in the cache; continues in train.partial, which an interrupted run left"
    )


@pytest.mark.parametrize("use_cache", [True, False])
def test_a_linked_partial_folder_is_removed_never_written_into(
    tmp_path: Path, use_cache: bool
) -> None:
    """A ``train.partial`` that is a link (to someone's folder) is not resumed into: the link
    is removed, never what it points at, and the stage is computed in a folder of its own."""
    config = _config("ridge", "quick", ["seed=45"])
    root = tmp_path / "work"
    _stages("ridge", config, root, "train")
    (root / "train" / DONE_MARKER).write_text("{")  # damaged: train is computed again
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    (root / "train.partial").symlink_to(precious)
    outcome = _stages("ridge", config, root, "train", use_cache=use_cache)["train"]
    assert not outcome.cached and "continues" not in outcome.reason
    assert [p.name for p in precious.iterdir()] == ["keep.txt"]
    assert not (root / "train").is_symlink() and (root / "train" / DONE_MARKER).is_file()
    assert sorted(p.name for p in root.glob("train*")) == ["train"]


def test_an_upstream_stage_being_swapped_in_is_waited_for_not_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # _ensure_upstream read the upstream's markers without the stage lock that a computing
    # run holds: while that run had its old folder aside and the new one not yet in place, it
    # found no marker and ran the upstream topic again (a second tracked run of it).
    import logging
    import threading

    from topiclab.core.dag import Identity
    from topiclab.core.locks import file_lock
    from topiclab.core.manifest import write_marker
    from topiclab.core.stages import lock_path
    from topiclab.flows import pipeline

    monkeypatch.setenv("TOPICLAB_HOME", str(tmp_path))
    monkeypatch.setattr(pipeline, "_flow_logger", lambda: logging.getLogger("test"))
    ident = Identity("up", "quick", {}, {s: f"key{i}" for i, s in enumerate(STAGES)})
    for stage in STAGES:
        ident.stage_folder(stage).mkdir(parents=True)
        write_marker(ident.stage_folder(stage), StageResult(metrics={"stage": STAGES.index(stage)}))
    train = ident.stage_folder("train")
    found: list[object] = []
    reader = threading.Thread(target=lambda: found.append(pipeline._cached_results(ident)))
    with file_lock(lock_path(train)):  # a run computing train, in the middle of its swap
        train.rename(train.with_name("train.old"))
        reader.start()
        reader.join(timeout=1.0)
        assert reader.is_alive() and not found, found  # it waits for the writer
        train.with_name("train.old").rename(train)
    reader.join(timeout=10)
    assert found and found[0] is not None
    assert found[0]["evaluate"].metrics == {"stage": 2}  # type: ignore[index]
