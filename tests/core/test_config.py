"""Config resolution: profile, TOML, overrides; every bad key or value named in one line."""

import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, model_validator

from topiclab.core.config import RegistryKey, parse_override, registry_keys, resolve_config
from topiclab.core.errors import ConfigError
from topiclab.core.topic import ConfigSection, Distinct, StageResult, Topic, TopicConfig


class Optim(BaseModel):
    lr: float = Field(1e-3, gt=0)
    kind: str = "adam"


class Cfg(TopicConfig):
    steps: int = Field(100, ge=1)
    optim: Optim = Optim()
    options: dict[str, Any] = Field(default_factory=dict)


class Demo(Topic):
    key = "demo"
    title = "demo"
    Config = Cfg
    profiles = {"quick": {"steps": 5, "optim": {"lr": 0.1}}}

    def generate(self, ctx):
        return StageResult()

    def train(self, ctx, data):
        return StageResult()

    def evaluate(self, ctx, data, trained):
        return StageResult()


def test_profiles_layer_over_defaults():
    assert resolve_config(Demo, "standard").steps == 100
    quick = resolve_config(Demo, "quick")
    assert quick.steps == 5 and quick.optim.lr == 0.1 and quick.optim.kind == "adam"


def test_toml_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("steps = 7\n[optim]\nkind = 'sgd'\n")
    cfg = resolve_config(Demo, "quick", path, ["optim.lr=0.5", "seed=3"])
    assert (cfg.steps, cfg.optim.kind, cfg.optim.lr, cfg.seed) == (7, "sgd", 0.5, 3)


def test_toml_table_per_topic(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[demo]\nsteps = 9\n[other]\nx = 1\n")
    assert resolve_config(Demo, "standard", path, multi_topic_toml=True).steps == 9


def test_one_file_serves_every_topic_also_in_a_single_topic_run(tmp_path):
    """A tester's shared file with [demo] and [other] tables, run for demo alone: the table of
    another registered topic is skipped, while a table that is no topic is still a typo."""
    path = tmp_path / "c.toml"
    path.write_text("[demo]\nsteps = 9\n[other]\nx = 1\n")
    assert resolve_config(Demo, "standard", path, other_topics={"other"}).steps == 9
    with pytest.raises(ConfigError, match="'other'"):
        resolve_config(Demo, "standard", path)


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "no.such=1",
            "unknown config key 'no' in the config; valid keys: optim, options, seed, steps",
        ),
        ("optim.beta=1", "unknown config key 'optim.beta' in optim; valid keys: kind, lr"),
        ("steps=0", "invalid value for 'steps'"),
        ("steps=abc", "invalid value for 'steps'"),
        ("steps.x=1", "config key 'steps' has no sub-keys"),
        ("justtext", "is not of the form key=value"),
        # an empty part was dropped: `optim..lr` set optim.lr, `optim.=1` was "invalid value
        # for 'optim'"
        ("optim..lr=0.1", "override 'optim..lr=0.1' has an empty part in its key 'optim..lr'"),
        ("optim.=1", "override 'optim.=1' has an empty part in its key 'optim.'"),
        (".seed=1", "override '.seed=1' has an empty part in its key '.seed'"),
    ],
)
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as info:
        resolve_config(Demo, "standard", overrides=[override])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_profile_and_missing_file(tmp_path):
    with pytest.raises(
        ConfigError, match="unknown profile 'fast'; choose from: quick, standard, full"
    ):
        resolve_config(Demo, "fast")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(Demo, "quick", tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_config(Demo, "quick", bad)


def test_free_form_dict_fields_take_sub_keys(tmp_path):
    cfg = resolve_config(Demo, "standard", overrides=["options.n_components=3"])
    assert cfg.options == {"n_components": 3}
    path = tmp_path / "c.toml"
    path.write_text("[options]\nk = 'v'\n")
    assert resolve_config(Demo, "standard", path).options == {"k": "v"}


def test_override_values_parse_as_json():
    assert parse_override("a.b=1.5") == (["a", "b"], 1.5)
    assert parse_override("flag=true") == (["flag"], True)
    assert parse_override("name=ddpm") == (["name"], "ddpm")
    assert parse_override("xs=[1,2]") == (["xs"], [1, 2])


@pytest.mark.parametrize(
    "raw, value",
    [(".5", 0.5), ("5.", 5.0), ("+1", 1), ("1_000", 1000), ("-0.0", -0.0), ("1E-3", 1e-3)],
)
def test_override_takes_numbers_as_a_config_file_or_python_writes_them(raw, value):
    # JSON reads none of these; a tester found `--set lr=.5` refused once files became strict
    parsed = parse_override(f"lr={raw}")[1]
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("raw", ["hamlet", "1979-05-27", "nan-ish", "1.2.3"])
def test_override_keeps_what_is_no_number_as_text(raw):
    assert parse_override(f"name={raw}") == (["name"], raw)


def test_override_with_a_huge_integer_names_the_key():
    # json.loads raises a bare ValueError past Python's 4300-digit limit; it must be a ConfigError
    with pytest.raises(ConfigError, match="'steps'") as info:
        parse_override("steps=" + "9" * 5000)
    assert "set_int_max_str_digits" not in str(info.value)  # no interpreter hint for users


def test_a_config_file_may_be_a_pipe(tmp_path):
    """``--config <(printf 'seed = 3')``: the shell hands over /dev/fd/N, not a regular file."""
    from topiclab.core.config import load_toml

    read, write = os.pipe()
    os.write(write, b"seed = 3\n")
    os.close(write)
    try:
        assert load_toml(Path(f"/dev/fd/{read}")) == {"seed": 3}
    finally:
        os.close(read)


# --- bounds, strictness and registry keys (issue 9: refused before anything runs) ----------


class Section(ConfigSection):
    reps: int = Field(10, ge=2, le=1_000)
    orders: Annotated[list[int], Distinct] = Field(default_factory=lambda: [1, 2])


class Keyed(TopicConfig):
    optim: Optim = Optim()
    section: Section = Section()
    trainer: Annotated[str, RegistryKey("trainer", task="generative")] = "ddpm"
    options: Annotated[
        dict[str, dict[str, Any]], RegistryKey("estimator", keys_of_mapping=True)
    ] = Field(default_factory=dict)


class KeyedTopic(Demo):
    key = "keyed"
    Config = Keyed
    profiles = {}


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lr=Infinity", "invalid value for 'optim.lr': must be a finite number; got inf"),
        ("optim.lr=NaN", "invalid value for 'optim.lr': must be a finite number; got nan"),
        ("optim.lr=-Infinity", "invalid value for 'optim.lr'"),
        ("seed=true", "invalid value for 'seed': Input should be a valid integer; got True"),
        ("seed=-1", "invalid value for 'seed': Input should be greater than or equal to 0"),
        ("seed=1.5", "invalid value for 'seed'"),
        ("section.reps=true", "invalid value for 'section.reps': Input should be a valid integer"),
        ("section.reps=1000000000", "invalid value for 'section.reps': Input should be less"),
        ('section.reps="3"', "invalid value for 'section.reps': Input should be a valid integer"),
        ("section.orders=[2,1,2]", "invalid value for 'section.orders': 2 listed more than once"),
        ("trainer=nosuch", "invalid value for 'trainer': unknown trainer for task 'generative'"),
        ("trainer=llama", "invalid value for 'trainer': unknown trainer"),  # wrong task
        ('options={"nosuch": {}}', "invalid value for 'options': unknown estimator 'nosuch'"),
        (
            'options={"iv.2sls": {"cov_typ": 1}}',
            "invalid value for 'options.iv.2sls.cov_typ': Extra inputs are not permitted",
        ),
    ],
)
def test_values_that_make_no_sense_are_refused_in_one_line(override, message):
    with pytest.raises(ConfigError) as info:
        resolve_config(KeyedTopic, "standard", overrides=[override])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_registry_key_errors_list_the_choices():
    with pytest.raises(ConfigError) as info:
        resolve_config(KeyedTopic, "standard", overrides=["trainer=nosuch"])
    assert "choose from:" in str(info.value) and "ddpm" in str(info.value)
    assert "llama" not in str(info.value)  # only trainers of the field's task are choices


def test_valid_values_and_registry_keys_pass(tmp_path):
    cfg = resolve_config(
        KeyedTopic,
        "standard",
        overrides=["seed=7", "section.reps=3", "optim.lr=1", 'options={"iv.2sls": {}}'],
    )
    assert (cfg.seed, cfg.section.reps, cfg.optim.lr) == (7, 3, 1.0)
    keys = {(path, meta.kind, key) for path, meta, key in registry_keys(cfg)}
    assert keys == {("trainer", "trainer", "ddpm"), ("options", "estimator", "iv.2sls")}
    path = tmp_path / "c.toml"
    path.write_text("trainer = 'nosuch'\n")
    with pytest.raises(ConfigError, match="invalid value for 'trainer'"):
        resolve_config(KeyedTopic, "standard", path)


def test_a_check_across_fields_is_one_line_without_the_whole_table():
    class Pair(ConfigSection):
        lo: int = 1
        hi: int = 2

        @model_validator(mode="after")
        def _ordered(self) -> "Pair":
            if self.lo > self.hi:
                raise ValueError(f"lo ({self.lo}) must not exceed hi ({self.hi})")
            return self

    class PairCfg(TopicConfig):
        pair: Pair = Pair()

    class PairTopic(Demo):
        key = "pair"
        Config = PairCfg
        profiles = {}

    with pytest.raises(ConfigError) as info:
        resolve_config(PairTopic, "standard", overrides=["pair.lo=5"])
    assert str(info.value) == "invalid value for 'pair': lo (5) must not exceed hi (2)"


def test_stage_context_gives_the_config_typed(tmp_path):
    from topiclab.core.topic import StageContext

    ctx = StageContext(
        topic="demo",
        profile="quick",
        config=Cfg(),
        workdir=tmp_path,
        stage="train",
        registry_factory=lambda: None,  # type: ignore[arg-type, return-value]
    )
    assert ctx.cfg(Cfg) is ctx.config and ctx.cfg(TopicConfig) is ctx.config
    with pytest.raises(TypeError, match="stage 'train' of topic 'demo' has a Cfg, not a Keyed"):
        ctx.cfg(Keyed)


class Listed(TopicConfig):
    # A list of registry keys (the methods a topic compares), and one also marked
    # keys_of_mapping: both name their items; neither has per-key options.
    methods: Annotated[list[str], RegistryKey("trainer", task="generative")] = ["ddpm"]
    estimators: Annotated[list[str], RegistryKey("estimator", keys_of_mapping=True)] = ["iv.2sls"]


class ListedTopic(Demo):
    key = "listed"
    Config = Listed
    profiles = {}


def test_registry_keys_in_a_list_are_checked_item_by_item():
    cfg = resolve_config(ListedTopic, "standard")
    keys = {(path, key) for path, _, key in registry_keys(cfg)}
    assert keys == {("methods", "ddpm"), ("estimators", "iv.2sls")}
    for override, path in [
        ('methods=["ddpm", "nosuch"]', "methods"),
        ('estimators=["nosuch"]', "estimators"),
    ]:
        with pytest.raises(ConfigError) as info:
            resolve_config(ListedTopic, "standard", overrides=[override])
        assert f"invalid value for '{path}': unknown" in str(info.value), override
        assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "toml, setting, key",
    [
        ('steps = "10"', 'steps="10"', "steps"),  # a string is not an int
        ("steps = true", "steps=true", "steps"),  # nor is a boolean
        ("steps = 10.0", "steps=10.0", "steps"),  # nor a float
        ('[optim]\nlr = "0.5"', 'optim.lr="0.5"', "optim.lr"),  # a third party's plain model
    ],
)
def test_a_config_file_is_as_strict_as_set(tmp_path, toml, setting, key):
    path = tmp_path / "c.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError) as from_file:
        resolve_config(Demo, "quick", path)
    with pytest.raises(ConfigError) as from_set:
        resolve_config(Demo, "quick", overrides=[setting])
    assert str(from_file.value) == str(from_set.value)
    assert str(from_file.value).startswith(f"invalid value for '{key}'")


def test_a_config_file_may_start_with_a_bom(tmp_path):
    # Windows editors (Notepad) save UTF-8 with a byte-order mark.
    path = tmp_path / "c.toml"
    path.write_bytes("\ufeffsteps = 7\n[optim]\nkind = 'sgd'\n".encode())
    cfg = resolve_config(Demo, "quick", path)
    assert (cfg.steps, cfg.optim.kind) == (7, "sgd")


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Typed(TopicConfig):
    folder: Path = Path(".")
    size: tuple[int, int] = (1, 1)
    kind: Color = Color.RED


class TypedTopic(Demo):
    key = "typed"
    Config = Typed
    profiles = {}


def test_strict_still_takes_paths_tuples_and_enums_as_written(tmp_path):
    # Strict as JSON is: a third party's Path, tuple or Enum field takes the text or list a
    # TOML file or --set can hold, while "10" is still not a number.
    path = tmp_path / "c.toml"
    path.write_text("folder = 'data/x'\nsize = [2, 3]\nkind = 'blue'\n")
    cfg = resolve_config(TypedTopic, "quick", path)
    assert (cfg.folder, cfg.size, cfg.kind) == (Path("data/x"), (2, 3), Color.BLUE)
    cfg = resolve_config(TypedTopic, "quick", overrides=["folder=y", "size=[4, 5]", "kind=red"])
    assert (cfg.folder, cfg.size, cfg.kind) == (Path("y"), (4, 5), Color.RED)
