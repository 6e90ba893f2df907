"""``python -m topiclab ...`` is the ``topiclab`` command (handy with ``-X importtime``)."""

from topiclab.app.cli import main

main()
