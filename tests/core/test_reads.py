"""What a stage declares it reads (``Topic.reads``): its cache key, and a config view that
refuses everything else (``core.reads``)."""

from __future__ import annotations

import pickle
from typing import Annotated

import pytest
from pydantic import Field

from topiclab.core.config import ExecutionOption
from topiclab.core.errors import ConfigError
from topiclab.core.reads import UndeclaredRead, guarded, project, read_tree
from topiclab.core.stages import stage_keys
from topiclab.core.topic import ConfigSection, Topic, TopicConfig


class Data(ConfigSection):
    n: int = 100
    noise: float = 0.1


class Eval(ConfigSection):
    episodes: int = 5


class Cfg(TopicConfig):
    data: Data = Field(default_factory=Data)
    eval: Eval = Field(default_factory=Eval)
    threads: int = 1


class Declared:
    key = "declared"
    reads = {"generate": ("data",), "train": ("data.n", "threads")}


def test_declared_fields_and_seed_are_the_stage_key_others_are_not() -> None:
    cfg = Cfg(seed=3)
    train = {"seed": 3, "data": {"n": 100}, "threads": 1}
    assert project(cfg, read_tree(Declared, "train")) == train
    assert read_tree(Declared, "evaluate") is None  # undeclared: the whole config
    assert project(cfg, None) == cfg.model_dump(mode="json")


def test_view_refuses_an_undeclared_read_with_a_clear_message() -> None:
    view = guarded(Cfg(), read_tree(Declared, "train"), "stage 'train' of topic 'declared'")
    assert isinstance(view, Cfg)  # ctx.cfg(Cfg) still works
    assert (view.data.n, view.threads, view.seed) == (100, 1, 0)
    with pytest.raises(
        UndeclaredRead,
        match=r"stage 'train' of topic 'declared' read config "
        r"field 'eval', which it does not declare: add it to the topic's reads",
    ):
        _ = view.eval
    with pytest.raises(UndeclaredRead, match=r"read config field 'data\.noise'"):
        _ = view.data.noise
    # Not an AttributeError: getattr(cfg, name, default) must not hide the read.
    with pytest.raises(UndeclaredRead):
        getattr(view, "eval", None)
    with pytest.raises(UndeclaredRead, match=r"called model_dump\(\) on config table 'data'"):
        view.data.model_dump()
    with pytest.raises(UndeclaredRead, match=r"called model_dump\(\) on the whole config"):
        view.model_dump()
    assert "eval" not in repr(view)
    copy = pickle.loads(pickle.dumps(view))  # as a stage hands it to a worker process
    assert copy.data.n == 100 and isinstance(copy, Cfg)
    with pytest.raises(UndeclaredRead, match="read config field 'eval'"):
        _ = copy.eval


def test_whole_config_and_whole_tables_are_the_objects_themselves() -> None:
    cfg = Cfg()
    assert guarded(cfg, None, "x") is cfg
    view = guarded(cfg, read_tree(Declared, "generate"), "x")
    assert view.data is cfg.data and view.data.model_dump() == {"n": 100, "noise": 0.1}


def test_a_wrong_declaration_is_a_one_line_error() -> None:
    class Typo(Declared):
        reads = {"train": ("dta",)}

    with pytest.raises(ConfigError, match="stage 'train': reads names 'dta', which is no config"):
        _keys(Cfg(), Typo)
    with pytest.raises(ConfigError, match=r"reads names a field of 'threads', which is no table"):
        project(Cfg(), {"threads": {"x": None}})

    class NotATuple(Declared):
        reads = {"train": "data"}  # type: ignore[dict-item]

    with pytest.raises(ConfigError, match="must be a tuple of field paths"):
        read_tree(NotATuple, "train")

    class BadStage(Declared):
        reads = {"trian": ("data",)}

    with pytest.raises(ConfigError, match="unknown stages: \\['trian'\\]"):
        read_tree(BadStage, "train")


def _keys(cfg: TopicConfig, topic: type | Topic = Declared) -> dict[str, str]:
    return stage_keys(topic, cfg, lambda values: "code", "quick")


def test_an_option_only_later_stages_read_keeps_the_earlier_keys() -> None:
    base = _keys(Cfg())
    evaluation = _keys(Cfg(eval=Eval(episodes=50)))
    assert [s for s in base if base[s] == evaluation[s]] == ["generate", "train"]
    noise = _keys(Cfg(data=Data(noise=0.5)))  # generate reads it: everything after changes
    assert all(base[s] != noise[s] for s in base)
    seed = _keys(Cfg(seed=1))  # every stage is reseeded from it
    assert all(base[s] != seed[s] for s in base)
    assert len(set(base.values())) == 4  # one folder per stage


def test_a_topic_without_reads_keys_every_stage_on_the_whole_config() -> None:
    class Undeclared:
        key = "undeclared"

    base, evaluation = _keys(Cfg(), Undeclared), _keys(Cfg(eval=Eval(episodes=50)), Undeclared)
    assert all(base[s] != evaluation[s] for s in base)


class Runner(ConfigSection):
    chunk: int = 10
    workers: Annotated[int, ExecutionOption()] = Field(default=1, ge=1)


class Fast(TopicConfig):
    """Execution options at the top and in a table."""

    data: Data = Field(default_factory=Data)
    run: Runner = Field(default_factory=Runner)
    threads: Annotated[int, ExecutionOption()] = 1


class FastDeclared:
    key = "fast"
    reads = {"generate": ("data",), "train": ("run.chunk",)}


@pytest.mark.parametrize("topic", [FastDeclared, type("Undeclared", (), {"key": "undeclared"})])
def test_an_execution_option_is_in_no_stage_key(topic: type) -> None:
    base = _keys(Fast(), topic)
    assert _keys(Fast(threads=4, run=Runner(workers=3)), topic) == base
    chunk = _keys(Fast(run=Runner(chunk=20)), topic)  # a real option still counts
    assert chunk["train"] != base["train"] and chunk["report"] != base["report"]
    assert project(Fast(threads=4), None) == {
        "seed": 0,
        "data": Data().model_dump(),
        "run": {"chunk": 10},
    }
    assert project(Fast(), {"run": None, "threads": None}) == {"run": {"chunk": 10}}


def test_any_stage_may_read_an_execution_option() -> None:
    """It is in no key, so declaring it would say nothing: the view never refuses it."""
    cfg = Fast(threads=4, run=Runner(workers=3))
    view = guarded(cfg, read_tree(FastDeclared, "train"), "stage 'train' of topic 'fast'")
    assert (view.threads, view.run.workers, view.run.chunk) == (4, 3, 10)
    with pytest.raises(UndeclaredRead, match="read config field 'data'"):
        _ = view.data
    copy = pickle.loads(pickle.dumps(view))  # as a stage hands it to a worker process
    assert (copy.threads, copy.run.workers) == (4, 3)


def test_a_stage_may_read_an_execution_option_of_a_table_it_does_not_read() -> None:
    """``generate`` reads only ``data``: ``run.workers`` is still readable (in no key), the
    rest of ``run`` is still refused."""
    cfg = Fast(threads=4, run=Runner(chunk=20, workers=3))
    view = guarded(cfg, read_tree(FastDeclared, "generate"), "stage 'generate' of topic 'fast'")
    assert (view.threads, view.run.workers, view.data) == (4, 3, cfg.data)
    with pytest.raises(UndeclaredRead, match=r"read config field 'run\.chunk'"):
        _ = view.run.chunk
    copy = pickle.loads(pickle.dumps(view))
    assert copy.run.workers == 3
