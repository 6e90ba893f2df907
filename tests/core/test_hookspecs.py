"""Contract tests: every hook is documented and its argument list is pinned.

Changing a signature breaks every third-party plugin; hooks may only gain optional arguments.
"""

import inspect

import pytest

from topiclab.core import hookspecs

PINNED = {
    "topiclab_register_topics": [],
    "topiclab_register_trainers": [],
    "topiclab_register_estimators": [],
    "topiclab_register_commands": ["cli"],
    "topiclab_preflight": ["topics"],
    "topiclab_before_run": ["run"],
    "topiclab_before_stage": ["run", "stage"],
    "topiclab_after_stage": ["run", "stage", "result", "cached"],
    "topiclab_on_stage_error": ["run", "stage", "error"],
    "topiclab_after_run": ["run", "outcome"],
    "topiclab_log_metrics": ["run", "metrics", "step", "child"],
}


def specs() -> dict[str, object]:
    return {n: f for n, f in vars(hookspecs).items() if n.startswith("topiclab_") and callable(f)}


def test_every_hook_is_pinned() -> None:
    assert set(specs()) == set(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_hook_signature_and_docstring(name: str) -> None:
    func = specs()[name]
    assert list(inspect.signature(func).parameters) == PINNED[name]
    assert func.__doc__ and len(func.__doc__.strip()) > 20, f"{name} needs a docstring"
    assert inspect.signature(func).return_annotation != inspect.Signature.empty


def test_lifecycle_arguments_are_typed() -> None:
    """The lifecycle hooks take ``RunInfo``/``RunOutcome`` and ``before_run`` returns ``Links``;
    their keys are part of the contract too."""
    import typing

    hints = typing.get_type_hints(hookspecs.topiclab_after_run)
    assert hints["run"] is hookspecs.RunInfo and hints["outcome"] is hookspecs.RunOutcome
    assert typing.get_type_hints(hookspecs.topiclab_before_run)["return"] == (
        hookspecs.Links | None
    )
    assert {"topic", "profile", "config", "versions", "git", "flow_run_id", "links"} | {
        "upstream",
        "pid",
        "host",
    } <= set(hookspecs.RunInfo.__annotations__)
    assert set(hookspecs.Links.__annotations__) == {"runs", "urls"}
    assert {"status", "seconds", "error", "out_dir"} <= hookspecs.RunOutcome.__required_keys__


def test_links_merge_over_trackers() -> None:
    links = hookspecs.empty_links()
    hookspecs.merge_links(links, {"runs": {"a": "1"}, "urls": {"A run": "http://a/1"}})
    hookspecs.merge_links(links, {"runs": {"b": "2"}})
    hookspecs.merge_links(links, None)
    assert links == {"runs": {"a": "1", "b": "2"}, "urls": {"A run": "http://a/1"}}


def test_builtin_plugins_implement_only_known_hooks() -> None:
    from topiclab.core.plugins import load_plugins

    loaded = load_plugins(strict=True)
    loaded.manager.check_pending()  # raises on an implementation without a spec
    assert not loaded.failures
