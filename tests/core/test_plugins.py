"""Plugin loading: isolation of a broken plugin, strict mode, block/allow lists, duplicates."""

from contextlib import contextmanager
from pathlib import Path

import pytest

from topiclab.core.config import resolve_config
from topiclab.core.errors import DuplicateKeyError, PluginLoadError, UnknownKeyError
from topiclab.core.plugins import load_plugins
from topiclab.core.registry import build_registry


def names(loaded):
    return {p.name for p in loaded.infos if not p.error}


def test_builtins_and_example_entry_point_load(plugin_env):
    reg = build_registry()
    assert "mlflow-tracker" in names(reg.plugins)
    assert "example" in names(reg.plugins), "pip install -e tests/example_plugin"
    assert reg.plugin_of("topic", "ridge").distribution == "topiclab-example"
    assert reg.trainer("gmm", task="generative").key == "gmm"


def test_broken_plugin_is_reported_by_name_and_others_load(plugin_env):
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.broken_plugin")
    reg = build_registry()
    broken = [p for p in reg.plugins.infos if p.name == "support.broken_plugin"]
    assert broken and "broken on purpose" in (broken[0].error or "")
    assert "ridge" in reg.topics and "mlflow-tracker" in names(reg.plugins)


@pytest.mark.parametrize(
    ("module", "load", "match"),
    [
        # a plugin that fails to import, and one whose hook returns the wrong types
        ("support.broken_plugin", load_plugins, r"support\.broken_plugin"),
        (
            "support.wrong_types_plugin",
            build_registry,
            r"plugin 'support\.wrong_types_plugin' failed: ",
        ),
    ],
)
def test_strict_mode_turns_a_plugin_load_error_into_an_error(plugin_env, module, load, match):
    plugin_env.setenv("TOPICLAB_PLUGINS", module)
    plugin_env.setenv("TOPICLAB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match=match):
        load()


def test_block_list_skips_a_plugin(plugin_env):
    plugin_env.setenv("TOPICLAB_BLOCK_PLUGINS", "example,mlflow-tracker")
    loaded = load_plugins()
    assert "example" not in names(loaded) and "mlflow-tracker" not in names(loaded)


def test_allow_list_and_autoload_switch(plugin_env):
    plugin_env.setenv("TOPICLAB_LOAD_PLUGINS", "nothing-else")
    assert "example" not in names(load_plugins())
    plugin_env.delenv("TOPICLAB_LOAD_PLUGINS")
    plugin_env.setenv("TOPICLAB_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "example" not in names(load_plugins())


def test_duplicate_topic_key_is_an_error(plugin_env):
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.duplicate_ridge")
    with pytest.raises(DuplicateKeyError, match="duplicate topic 'ridge'"):
        build_registry()


def test_unknown_keys_name_the_choices(plugin_env):
    reg = build_registry()
    with pytest.raises(UnknownKeyError, match=r"unknown topic 'nosuch'; choose from: .*ridge"):
        reg.topic("nosuch")
    with pytest.raises(UnknownKeyError, match="unknown trainer for task 'generative' 'nope'"):
        reg.trainer("nope", task="generative")


@contextmanager
def touched(path: Path):
    """Append a comment to a source file for the duration of the block."""
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\n# touched by a test\n")
        yield
    finally:
        path.write_bytes(original)


def test_fingerprint_scope_is_the_code_a_topic_can_run(plugin_env):
    import topiclab

    root = Path(topiclab.__file__).parent
    reg = build_registry()
    config = resolve_config(reg.topics["causal-iv"], "quick").model_dump(mode="json")
    before = reg.fingerprint("causal-iv", config)
    for elsewhere in ("app/cli.py", "flows/pipeline.py", "plugins/llama/topic.py", "nn/llama.py"):
        with touched(root / elsewhere):
            assert reg.fingerprint("causal-iv", config) == before, elsewhere
    for used in ("causal/iv.py", "plugins/causal_iv/topic.py", "core/topic.py"):
        with touched(root / used):
            assert reg.fingerprint("causal-iv", config) != before, used
    estimators = root / "plugins/causal_estimators/__init__.py"
    with touched(estimators):  # the estimator plugin the config selects is in scope
        assert reg.fingerprint("causal-iv", config) != before
        assert reg.fingerprint("causal-iv", {}) == reg.fingerprint("causal-iv", {})


def test_fingerprint_changes_with_plugin_source(plugin_env):
    reg = build_registry()
    before = reg.fingerprint("ridge")
    assert before == build_registry().fingerprint("ridge")
    import topiclab_example.ridge as module

    source = Path(module.__file__)
    original = source.read_text()
    try:
        source.write_text(original + "\n# touched by a test\n")
        assert build_registry().fingerprint("ridge") != before
    finally:
        source.write_text(original)


def test_misspelled_hook_is_a_load_error(plugin_env):
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.misspelled_hook")
    failed = {p.name: p.error for p in load_plugins().infos if p.error}
    assert "topiclab_register_topic" in (failed.get("support.misspelled_hook") or "")
    plugin_env.setenv("TOPICLAB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="unknown hook 'topiclab_register_topic'"):
        load_plugins()


def test_builtins_are_entry_points_of_the_topiclab_distribution(plugin_env):
    plugin_env.setenv("TOPICLAB_DISABLE_PLUGIN_AUTOLOAD", "1")
    loaded = load_plugins()
    builtins = {p.name for p in loaded.infos if p.builtin and not p.error}
    assert {"llama", "causal-iv", "diffusion", "mlflow-tracker"} <= builtins
    assert all(p.distribution == "topiclab" for p in loaded.infos)


def test_naming_an_installed_plugin_again_keeps_it_registered(plugin_env):
    """TOPICLAB_PLUGINS naming a module an entry point already loaded once unregistered it."""
    plugin_env.setenv("TOPICLAB_PLUGINS", "topiclab.plugins.llama")
    reg = build_registry()
    assert "llama" in reg.topics and "llama" in names(reg.plugins)
    assert not reg.plugins.failures


SINGLE_FILE_PLUGIN = """
from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec
from topiclab_example.gmm import GMMConfig, GMMTrainer


def build(config):
    return GMMTrainer(config)


@hookimpl
def topiclab_register_trainers():
    return [TrainerSpec(key="onefile-gmm", task="generative", build=build, config=GMMConfig)]
"""


def test_fingerprint_covers_a_single_file_plugin(plugin_env, tmp_path):
    """A trainer plugin that is one module (``TOPICLAB_PLUGINS=myplugin`` while writing it),
    not a package: editing it must change the key of the stages that select its trainer."""
    source = tmp_path / "onefile_plugin.py"
    source.write_text(SINGLE_FILE_PLUGIN)
    assert_edit_moves_fingerprint(plugin_env, tmp_path, "onefile_plugin", source)


def assert_edit_moves_fingerprint(plugin_env, folder: Path, plugin: str, edited: Path) -> None:
    """Load ``plugin`` (a module in ``folder``) and select its trainer; editing ``edited``
    must change the fingerprint of diffusion's stages."""
    plugin_env.syspath_prepend(str(folder))
    plugin_env.setenv("TOPICLAB_PLUGINS", plugin)
    config = {"trainer": "onefile-gmm"}
    before = build_registry().fingerprint("diffusion", config)
    with touched(edited):
        assert build_registry().fingerprint("diffusion", config) != before


def test_fingerprint_covers_the_module_beside_a_single_file_plugin(plugin_env, tmp_path):
    """The plugin file imports its trainer from a module next to it (a folder on the path,
    not a package): editing that module must change the key too."""
    (tmp_path / "beside_plugin.py").write_text(
        SINGLE_FILE_PLUGIN.replace("from topiclab_example.gmm", "from beside_gmm")
    )
    helper = tmp_path / "beside_gmm.py"
    helper.write_text("from topiclab_example.gmm import GMMConfig, GMMTrainer\n")
    assert_edit_moves_fingerprint(plugin_env, tmp_path, "beside_plugin", helper)


def test_a_hook_returning_the_wrong_types_is_reported_and_skipped(plugin_env):
    # `[42]` for topics, a string for trainers: an AttributeError traceback from every command.
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.wrong_types_plugin")
    reg = build_registry()
    info = next(p for p in reg.plugins.infos if p.name == "support.wrong_types_plugin")
    assert info.error is not None and "\n" not in info.error
    assert info.error.startswith("TypeError in topiclab_register_topics: "), info.error
    assert "a list of Topic subclasses" in info.error and "42" in info.error
    assert {reg.owner[k] for k in reg.owner} & {info.name} == set()  # nothing of it registered
    assert "ridge" in reg.topics and "ddpm" in reg.trainers and "iv.2sls" in reg.estimators


def test_a_key_a_plugin_registers_twice_names_it_once(plugin_env):
    plugin_env.setenv("TOPICLAB_PLUGINS", "support.self_duplicate_plugin")
    with pytest.raises(DuplicateKeyError) as info:
        build_registry()
    assert str(info.value) == (
        "duplicate trainer 'twice': registered twice by 'support.self_duplicate_plugin'"
    )


def test_an_option_a_trainer_does_not_take_names_what_it_takes():
    """A topic adds options of its own (a seed) to the trainers it builds: a plugin's config
    that forbids it must say what it takes and where the contract is, not just 'extra'."""
    from pydantic import BaseModel, ConfigDict

    from topiclab.core.errors import ConfigError
    from topiclab.core.specs import TrainerSpec

    class KDEConfig(BaseModel):
        model_config = ConfigDict(extra="forbid")
        bandwidth: float = 0.1

    spec = TrainerSpec(key="kde", task="generative", build=dict, config=KDEConfig)
    with pytest.raises(ConfigError) as info:
        spec.create({"seed": 0})
    text = str(info.value)
    assert text.startswith("trainer 'kde': invalid value for 'seed': Extra inputs")
    assert "KDEConfig takes: bandwidth" in text and "docs/plugins.md" in text
    assert "\n" not in text
