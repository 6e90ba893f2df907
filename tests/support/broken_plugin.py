"""A plugin whose import raises: it must be reported by name, and the others still load."""

raise ImportError("this plugin is broken on purpose (a test fixture)")
