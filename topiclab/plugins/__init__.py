"""Built-in plugins, one folder (or module) each.

Each is declared in topiclab's ``pyproject.toml`` under ``[project.entry-points.topiclab]``
and found by the same path as a third party's plugin.
"""
