"""ASGI entry point of a web node: the public read path in front of Django."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heliograph.settings")
django_application = get_wsgi_application()  # sets Django up before the models load

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.conf import settings  # noqa: E402

from heliograph.lib import heartbeat, supervisor  # noqa: E402
from heliograph.publish.node import Node  # noqa: E402
from heliograph.publish.store import SnapshotStore  # noqa: E402

# Django's own threads: the only ones that may wait on the database.
DJANGO_THREADS = 16

supervisor.exit_with_parent()  # Granian's main process
beat = heartbeat.Beat(settings.RUN_DIR, "web", state="serving").start()
application = Node(
    WSGIMiddleware(django_application, workers=DJANGO_THREADS),  # type: ignore[arg-type]
    SnapshotStore(settings.POLL_INTERVAL).start(),
    heartbeat.Board(settings.RUN_DIR).start(),
)
