"""Per-stage cache keys through the flow: a stage is recomputed only when something it reads
(``Topic.reads``) or stands on changed (``support.stage_reads``'s topics)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from topiclab.core.manifest import DONE_MARKER
from topiclab.core.stages import stage_dir, work_root


@pytest.fixture
def counted(plugin_env: pytest.MonkeyPatch) -> Any:
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.stage_reads")
    from support import stage_reads

    stage_reads.TRAINED.clear()
    return stage_reads


def _run(
    overrides: list[str], out: Path, use_cache: bool = True, topic: str = "counted"
) -> dict[str, Any]:
    from topiclab.flows.pipeline import topic_pipeline

    return topic_pipeline(topic, "quick", overrides, None, str(out), use_cache)


def _marker(result: dict[str, Any], stage: str, topic: str = "counted") -> Path:
    return stage_dir(work_root(), topic, result["stage_keys"][stage], stage) / DONE_MARKER


def test_an_evaluation_option_reuses_the_trained_stage(prefect_harness, counted, tmp_path):
    first = _run(["seed=71"], tmp_path)
    assert first["cached_stages"] == [] and counted.TRAINED == [("counted", 50)]
    trained = _marker(first, "train")
    before = trained.stat().st_mtime_ns

    second = _run(["seed=71", "eval.test_share=0.3"], tmp_path)
    assert second["cached_stages"] == ["generate", "train"]  # evaluate and report recomputed
    assert counted.TRAINED == [("counted", 50)]  # train did not run again
    assert trained.stat().st_mtime_ns == before  # nor was its folder rewritten
    keys, again = first["stage_keys"], second["stage_keys"]
    assert [s for s in keys if keys[s] == again[s]] == ["generate", "train"]
    assert second["metrics"]["mu"] == first["metrics"]["mu"]
    assert second["metrics"]["mse"] != first["metrics"]["mse"]  # on another share of the data
    assert second["cache_key"] == again["report"] != first["cache_key"]


def test_a_data_option_recomputes_every_stage(prefect_harness, counted, tmp_path):
    first = _run(["seed=72"], tmp_path)
    second = _run(["seed=72", "data.n=300"], tmp_path)
    assert second["cached_stages"] == []
    assert counted.TRAINED == [("counted", 50), ("counted", 50)]
    assert all(first["stage_keys"][s] != second["stage_keys"][s] for s in first["stage_keys"])
    third = _run(["seed=72", "train.steps=60"], tmp_path)  # a train option: data reused
    assert third["cached_stages"] == ["generate"] and counted.TRAINED[-1] == ("counted", 60)


def test_an_execution_option_reuses_every_stage_and_is_still_tracked(
    prefect_harness, counted, plugin_env, tmp_path
):
    """``workers`` (an ``ExecutionOption``) changes no stage key: a run with another value
    reuses every stage, its trackers hear each as cached, and MLflow records the value."""
    events = tmp_path / "events.jsonl"
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.stage_reads,support.jsonl_tracker")
    plugin_env.setenv("TOPICLAB_JSONL_TRACKER", str(events))
    first = _run(["seed=78"], tmp_path)
    before = _marker(first, "train").stat().st_mtime_ns
    events.unlink()
    second = _run(["seed=78", "workers=4"], tmp_path)
    assert second["stage_keys"] == first["stage_keys"]
    assert second["cached_stages"] == ["generate", "train", "evaluate", "report"]
    assert counted.TRAINED == [("counted", 50)]  # train did not run again
    assert _marker(second, "train").stat().st_mtime_ns == before
    told = [(stage, cached) for hook, stage, cached in _stages_told(events) if cached is not None]
    assert told == [(s, True) for s in ("generate", "train", "evaluate", "report")]
    params = _mlflow().get_run(second["links"]["runs"]["mlflow"]).data.params
    assert params["workers"] == "4"
    third = _run(["seed=78", "workers=4", "train.steps=60"], tmp_path)  # a real option
    assert third["cached_stages"] == ["generate"] and counted.TRAINED[-1] == ("counted", 60)


def test_no_cache_still_recomputes_every_stage(prefect_harness, counted, tmp_path):
    first = _run(["seed=73"], tmp_path)
    before = _marker(first, "train").stat().st_mtime_ns
    again = _run(["seed=73"], tmp_path, use_cache=False)
    assert again["cached_stages"] == [] and len(counted.TRAINED) == 2
    assert again["stage_keys"] == first["stage_keys"]  # recomputed into the same folders
    assert _marker(again, "train").stat().st_mtime_ns != before


def test_an_upstream_evaluation_option_reuses_the_downstream_stages(
    prefect_harness, counted, tmp_path
):
    """``counted-probe`` consumes ``counted``'s trained mean: its keys cover counted's train
    stage, not its report, so an evaluation option of counted recomputes counted's evaluate
    and report and nothing downstream; a train option of counted recomputes it all."""
    first = _run(["counted:seed=75"], tmp_path, topic="counted-probe")
    assert counted.TRAINED == [("counted", 50), ("counted-probe", 0)]
    trained = _marker(first, "train", "counted-probe")
    before = trained.stat().st_mtime_ns

    evaluation = ["counted:seed=75", "counted:eval.test_share=0.3"]
    second = _run(evaluation, tmp_path, topic="counted-probe")
    assert second["cached_stages"] == ["generate", "train", "evaluate", "report"]
    assert counted.TRAINED == [("counted", 50), ("counted-probe", 0)]  # counted: eval only
    assert trained.stat().st_mtime_ns == before and second["stage_keys"] == first["stage_keys"]
    assert second["upstream"]["counted"]["cache_key"] != first["upstream"]["counted"]["cache_key"]

    third = _run(["counted:seed=75", "counted:train.steps=60"], tmp_path, topic="counted-probe")
    assert third["cached_stages"] == []
    assert counted.TRAINED[2:] == [("counted", 60), ("counted-probe", 0)]
    assert third["metrics"]["scaled"] != first["metrics"]["scaled"]


def test_an_undeclared_read_is_refused_before_it_can_be_cached(prefect_harness, counted, tmp_path):
    from topiclab.core.reads import UndeclaredRead
    from topiclab.flows.pipeline import topic_pipeline

    with pytest.raises(UndeclaredRead) as refused:
        topic_pipeline("sneaky", "quick", ["seed=74"], None, str(tmp_path))
    assert str(refused.value).startswith(
        "stage 'train' of topic 'sneaky' read config field 'eval', which it does not "
        "declare: add it to the topic's reads"
    )
    assert counted.TRAINED == []
    assert not list((work_root() / "sneaky").glob(f"*/train/{DONE_MARKER}"))


@pytest.mark.parametrize(
    ("topic", "option", "kept"),
    [
        ("gato", "eval.episodes=50", ["generate", "train"]),
        ("gato", "data.episodes=5", []),
        ("llama", "eval.sample_tokens=50", ["generate", "train"]),
        ("llama", "data.max_train_chars=100000", []),
        ("diffusion", "toy.n_bound=100", ["generate", "train"]),
        ("diffusion", "toy.n_train=500", []),
        ("mode-collapse", "seeds=3", ["generate"]),  # its train stage draws the samples
        ("mode-collapse", "n_train=500", []),
        # execution options (core.config.ExecutionOption): how fast, not what, it computes
        ("mode-collapse", "workers=3", ["generate", "train", "evaluate", "report"]),
        ("mode-collapse", "torch_threads=2", ["generate"]),  # it can change the numbers
        ("gato", "train.parallel=1", ["generate", "train", "evaluate", "report"]),
        ("compression", "compression:workers=2", ["generate", "train", "evaluate", "report"]),
        ("causal-recsys", "train.epochs=5", ["generate"]),
        ("causal-recsys", "world.n_users=300", []),
    ],
)
def test_built_in_topics_recompute_the_stages_an_option_reaches(topic, option, kept):
    """The declarations of the topics with long trainings (their quick runs in
    ``tests/plugins`` check that the stages read nothing else)."""
    from topiclab.core.dag import identity
    from topiclab.core.registry import get_registry

    reg = get_registry()
    base = identity(reg, topic, "quick").stage_keys
    changed = identity(reg, topic, "quick", [option]).stage_keys
    assert [s for s in base if base[s] == changed[s]] == kept


def test_a_clean_between_a_reuse_and_the_next_stage_recomputes_it(
    prefect_harness, counted, plugin_env, tmp_path, monkeypatch
):
    """`topiclab cache clean --all` after ``generate`` was reused and before ``train`` locks
    it to read: the flow starts its stages over and recomputes generate, and the run ends
    well (``core.stages.over_if_removed``) instead of failing with "run again". Trackers
    hear of each stage once, with its final outcome (generate: computed, not reused); no
    Prefect task run fails; the terminal says why the stages start over."""
    from rich.console import Console

    from topiclab.app.logfile import library_log
    from topiclab.core import stages
    from topiclab.core.cache import remove, scan
    from topiclab.flows.pipeline import topic_pipeline

    events = tmp_path / "events.jsonl"
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.stage_reads,support.jsonl_tracker")
    plugin_env.setenv("TOPICLAB_JSONL_TRACKER", str(events))
    keys = set(_run(["seed=74"], tmp_path)["stage_keys"].values())
    real, cleaned = stages._reading, []

    def clean_first(folder: Path, label: str, log: Any) -> Any:
        if not cleaned:  # the first run's folders (the work root is the session's, shared)
            cleaned.append(remove([e for e in scan(work_root()) if e.key in keys]))
        return real(folder, label, log)

    monkeypatch.setattr(stages, "_reading", clean_first)
    events.unlink()  # the first run's
    terminal = Console(file=io.StringIO(), width=250)
    with library_log(tmp_path / "run.log", terminal):  # as `topiclab run` does
        state = topic_pipeline(
            "counted", "quick", ["seed=74", "train.steps=7"], None, str(tmp_path), return_state=True
        )
    second = state.result()
    said = "counted.train: the generate stage it reads was removed meanwhile; starting the stages"
    assert said in terminal.file.getvalue()  # type: ignore[attr-defined]
    assert len(cleaned[0].removed) == 4 and second["cached_stages"] == []
    assert counted.TRAINED == [("counted", 50), ("counted", 7)]
    assert _marker(second, "generate").is_file() and _marker(second, "report").is_file()
    stages_told = _stages_told(events)
    assert stages_told == [
        ("before_stage", "generate", None),  # reused: told when the run's stages end
        ("before_stage", "train", None),
        ("after_stage", "generate", False),  # the pass that started over computed it
        ("after_stage", "train", False),
        ("before_stage", "evaluate", None),
        ("after_stage", "evaluate", False),
        ("before_stage", "report", None),
        ("after_stage", "report", False),
    ]
    ran = _task_states(state.state_details.flow_run_id, 6)
    assert ran == {"counted.generate": ["COMPLETED"] * 2, "counted.train": ["COMPLETED"] * 2}


def test_a_stage_computed_before_a_pass_starts_over_is_told_once_as_computed(
    prefect_harness, counted, plugin_env, tmp_path, monkeypatch
):
    """generate computed (its folder was cleaned), train reused, then removed before evaluate
    reads it: the pass that starts over reuses the generate this run computed. Trackers must
    not hear it again as ``cached`` (MLflow would retag the run that computed it as one that
    reused it, and log its metrics twice), and the run does not list it as reused."""
    from topiclab.core.cache import remove, scan

    events = tmp_path / "events.jsonl"
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.stage_reads,support.jsonl_tracker")
    plugin_env.setenv("TOPICLAB_JSONL_TRACKER", str(events))
    keys = _run(["seed=76"], tmp_path)["stage_keys"]
    remove([e for e in scan(work_root()) if e.key == keys["generate"]])
    cleaned = _clean_before_first_read(monkeypatch, "train", keys["train"])
    events.unlink()  # the first run's
    second = _run(["seed=76", "eval.test_share=0.3"], tmp_path)
    stages_told = _stages_told(events)
    assert stages_told == [
        ("before_stage", "generate", None),
        ("after_stage", "generate", False),
        ("before_stage", "train", None),  # reused: told when the run's stages end
        ("before_stage", "evaluate", None),
        ("after_stage", "train", False),  # the pass that started over computed it
        ("after_stage", "evaluate", False),
        ("before_stage", "report", None),
        ("after_stage", "report", False),
    ]
    assert len(cleaned[0].removed) == 1 and second["cached_stages"] == []
    assert second["stage_seconds"]["generate"] > 0  # its compute time, from the first pass


def test_a_clean_that_keeps_removing_a_stage_ends_the_run_with_a_hint(
    prefect_harness, counted, tmp_path, monkeypatch
):
    """A clean that removes the stage a run reads at every pass: after the last pass the run
    ends with one line that names the stage and says what to do."""
    from topiclab.core import stages
    from topiclab.core.cache import remove, scan

    keys = _run(["seed=77"], tmp_path)["stage_keys"]
    real = stages._reading

    def always_clean(folder: Path, label: str, log: Any) -> Any:
        remove([e for e in scan(work_root()) if e.key == keys["generate"]])
        return real(folder, label, log)

    monkeypatch.setattr(stages, "_reading", always_clean)
    with pytest.raises(stages.StageRemoved) as caught:
        _run(["seed=77", "train.steps=9"], tmp_path)
    line = str(caught.value)
    assert line.startswith("counted.train: the generate stage it reads was removed meanwhile")
    assert line.endswith("run again to recompute it") and "\n" not in line


def _clean_before_first_read(monkeypatch: pytest.MonkeyPatch, stage: str, key: str) -> list[Any]:
    """The first time a computing stage locks ``stage``'s folder to read it, a clean removes
    the folder of ``key`` just before (``topiclab cache clean``); the list gets its result."""
    from topiclab.core import stages
    from topiclab.core.cache import remove, scan

    real, cleaned = stages._reading, []

    def clean_first(folder: Path, label: str, log: Any) -> Any:
        if folder.name == stage and not cleaned:
            cleaned.append(remove([e for e in scan(work_root()) if e.key == key]))
        return real(folder, label, log)

    monkeypatch.setattr(stages, "_reading", clean_first)
    return cleaned


def _task_states(flow_run_id: Any, count: int, wait: float = 60) -> dict[str, list[str]]:
    """The states of the flow run's stage tasks run more than once, once ``count`` stage
    tasks ended (the server records them a moment after they are sent)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    deadline = time.monotonic() + wait
    while True:
        with get_client(sync_client=True) as client:
            tasks = client.read_task_runs(flow_run_filter=runs)
        ended = [
            (t.name, t.state.type.value)
            for t in tasks
            if t.name.startswith("counted.") and t.state and t.state.is_final()
        ]
        if len(ended) >= count or time.monotonic() > deadline:
            names = [name for name, _ in ended]
            again = {name for name in names if names.count(name) > 1}
            return {name: sorted(st for n, st in ended if n == name) for name in again}
        time.sleep(1)


def _mlflow() -> Any:
    """A client of the tracker's store. ``MlflowClient()`` would read mlflow's process-wide
    URI, which an earlier test's model logging (``mlflow.set_tracking_uri``) may have pinned
    to the session's SQLite store."""
    from mlflow.tracking import MlflowClient

    from topiclab.plugins.mlflow_tracker.store import tracking_uri

    return MlflowClient(tracking_uri())


def _stages_told(events: Path) -> list[tuple[str, str, bool | None]]:
    """(hook, stage, cached) of every stage event the recording tracker wrote, in order."""
    told = [json.loads(line) for line in events.read_text().splitlines()]
    return [(e["event"], e["stage"], e.get("cached")) for e in told if "stage" in e]


@pytest.mark.parametrize("store", ["sqlite", "file"])
def test_mlflow_records_a_stage_reused_then_recomputed_once_as_ran(
    prefect_harness, counted, tmp_path, monkeypatch, store
):
    """evaluate reused, then removed before report reads it: the pass that starts over
    computes it. The MLflow run (the session's SQLite store, or a file store of MLflow's
    ``mlruns`` layout) records evaluate once, as what finally happened: tagged ``ran``, one
    step-0 point per metric and claim, and no ``source_run`` tag left from the pass that had
    reused it (generate and train, reused in every pass, keep theirs)."""
    if store == "file":  # MLflow 3 refuses its file store unless asked (maintenance mode)
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())

    from topiclab.core.cache import remove, scan

    seed = f"seed={78 if store == 'sqlite' else 81}"  # each store its own runs and folders
    keys = _run([seed], tmp_path)["stage_keys"]
    remove([e for e in scan(work_root()) if e.key == keys["report"]])
    cleaned = _clean_before_first_read(monkeypatch, "evaluate", keys["evaluate"])
    second = _run([seed], tmp_path)
    assert len(cleaned[0].removed) == 1 and second["cached_stages"] == ["generate", "train"]
    client = _mlflow()
    run_id = second["links"]["runs"]["mlflow"]
    tags = client.get_run(run_id).data.tags
    assert tags["stage.evaluate"] == "ran" and tags["stage.train"] == "cached"
    assert "topiclab.source_run.evaluate" not in tags
    assert "topiclab.source_run.train" in tags
    for key in ("eval/mse", "eval/mu", "claims/fits-the-mean"):
        assert [p.step for p in client.get_metric_history(run_id, key)] == [0], key


@pytest.mark.parametrize("tracker_down", [False, True], ids=["told", "tracker-down"])
def test_a_reused_stage_is_told_before_a_later_stage_fails(
    prefect_harness, counted, plugin_env, tmp_path, monkeypatch, tracker_down
):
    """A reused stage is told when the run's stages end: a failing later stage ends them,
    so trackers hear of the reuse before the error (the run's record stays whole). A
    tracker's error then must not replace the stage's own nor skip the error hook, as
    ``topiclab_on_stage_error`` promises."""
    from topiclab.flows import pipeline

    events = tmp_path / "events.jsonl"
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.stage_reads,support.jsonl_tracker")
    plugin_env.setenv("TOPICLAB_JSONL_TRACKER", str(events))
    _run(["seed=79"], tmp_path)
    events.unlink()

    def broken(self: Any, ctx: Any, data: Any) -> Any:
        raise RuntimeError("train broke")

    def down(self: Any, run: Any) -> None:
        raise ConnectionError("tracker down")

    monkeypatch.setattr(counted.Counted, "train", broken)
    if tracker_down:
        monkeypatch.setattr(pipeline.Told, "flush", down)
    with pytest.raises(RuntimeError, match="train broke"):
        _run(["seed=79", "train.steps=8"], tmp_path)
    reused = [] if tracker_down else [("after_stage", "generate", True)]
    assert _stages_told(events) == [
        ("before_stage", "generate", None),
        ("before_stage", "train", None),
        *reused,
        ("on_stage_error", "train", None),
    ]


def test_a_clean_while_a_run_publishes_skips_the_folders_it_reads(
    prefect_harness, counted, tmp_path, monkeypatch
):
    """A run whose stages all came from the cache tells its trackers of them, and copies
    the report, after its last stage: `topiclab cache clean --all` at that moment skips the
    folders (the run holds them, shared) instead of taking the files from under the MLflow
    upload and the publishing, and the run ends well."""
    from topiclab.core.cache import IN_USE, remove, scan
    from topiclab.core.topic import STAGES
    from topiclab.flows import pipeline

    keys = set(_run(["seed=80"], tmp_path / "a")["stage_keys"].values())
    real, cleaned = pipeline.Told.flush, []

    def clean_then_flush(self: Any, run: Any) -> None:
        if not cleaned:
            cleaned.append(remove([e for e in scan(work_root()) if e.key in keys]))
        real(self, run)

    monkeypatch.setattr(pipeline.Told, "flush", clean_then_flush)
    second = _run(["seed=80"], tmp_path / "b")
    assert second["cached_stages"] == list(STAGES)
    assert not cleaned[0].removed and {why for _, why in cleaned[0].skipped} == {IN_USE}
    assert (tmp_path / "b" / "counted" / "report.html").is_file()
    tags = _mlflow().get_run(second["links"]["runs"]["mlflow"]).data.tags
    assert all(tags[f"stage.{stage}"] == "cached" for stage in STAGES)
