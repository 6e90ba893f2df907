"""A plugin whose hooks return what they must not: a string for a list, an int for a topic,
None and a dict for estimator specs. Each hook's result is skipped whole, and the plugin's
error says why (it used to be an AttributeError traceback that stopped every command)."""

from topiclab.core.hookspecs import hookimpl


@hookimpl
def topiclab_register_topics():
    return [42]


@hookimpl
def topiclab_register_trainers():
    return "not a list"


@hookimpl
def topiclab_register_estimators():
    return [None, {"key": "x"}]
