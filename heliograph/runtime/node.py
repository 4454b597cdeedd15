"""Entry point of a web node (Granian, RSGI): the public read path in front of Django."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heliograph.settings")
django_application = get_wsgi_application()  # sets Django up before the models load

from django.conf import settings  # noqa: E402

from heliograph.lib import heartbeat, supervisor  # noqa: E402
from heliograph.lib.wsgi_bridge import WSGIBridge  # noqa: E402
from heliograph.publish.node import Node  # noqa: E402
from heliograph.publish.store import SnapshotStore  # noqa: E402
from heliograph.urls import django_prefixes  # noqa: E402

# Django's own threads: the only ones that may wait on the database.
DJANGO_THREADS = 16

beat = heartbeat.Beat(settings.RUN_DIR, "web", state="running").start()
board = heartbeat.Board(settings.RUN_DIR).start()
# Granian's main process: if it dies, answer on until a new web worker answers.
supervisor.exit_with_parent(replaced=lambda since: board.started_since("web", since))
application = Node(
    WSGIBridge(django_application, DJANGO_THREADS),
    SnapshotStore(settings.POLL_INTERVAL).start(),
    board,
    django_prefixes(),
)
