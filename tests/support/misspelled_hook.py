"""A plugin whose hook name has a typo (``topic`` for ``topics``): must fail to load."""

from topiclab.core.hookspecs import hookimpl


@hookimpl
def topiclab_register_topic() -> list[object]:
    return []
