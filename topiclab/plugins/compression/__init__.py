"""Built-in plugin ``compression``: LLMs as compressors (issue 12).

    TOPICLAB_PLUGINS=topiclab.plugins.compression topiclab run compression --profile quick
    topiclab compress FILE [--model llama.pt] ; topiclab decompress FILE.tlz

Registrations only; the modules are imported inside the hooks (no torch at import time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topiclab.core.hookspecs import hookimpl

if TYPE_CHECKING:
    from topiclab.core.topic import Topic


@hookimpl
def topiclab_register_commands(cli: Any) -> None:
    from topiclab.plugins.compression.cli import register

    register(cli)


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    from topiclab.plugins.compression.topic import CompressionTopic

    return [CompressionTopic]
