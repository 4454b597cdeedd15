"""The loop every background process runs: a pass every few seconds, through outages."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from heliograph.lib import heartbeat, supervisor
from heliograph.lib.db import guard

log = logging.getLogger(__name__)

_waiting: set[str] = set()  # loops of this process that wait for the database


def start_background_process(role: str) -> heartbeat.Beat:
    """For the publisher and the worker: a longer database bound than a web request's,
    and a heartbeat saying whether their loops are working or waiting for the database."""
    guard.configure(settings.DB_BACKGROUND_TIMEOUT)
    supervisor.exit_with_parent()
    beat = heartbeat.Beat(settings.RUN_DIR, role, state="running")
    beat.state_of = lambda: "waiting for the database" if _waiting else "running"
    return beat.start()


def run_until_stopped(
    stop: threading.Event,
    interval: float,
    one_pass: Callable[[], object],
    *,
    name: str,
    on_outage: Callable[[], None] | None = None,
) -> None:
    """Call ``one_pass`` every ``interval`` seconds until ``stop`` is set.

    A pass that returns something truthy did work, so the next one starts at once. The
    database going away is logged once per outage, not every pass; any other error is
    logged and the loop goes on, since all state lives in the database.
    """
    healthy = True
    while not stop.is_set():
        busy = False
        try:
            close_old_connections()
            busy = bool(one_pass())
            if not healthy:
                log.info("%s: database reachable again", name)
            healthy = True
            _waiting.discard(name)
        except DatabaseError as exc:
            if healthy:
                log.warning("%s: database unavailable (%s); retrying", name, exc)
            healthy = False
            _waiting.add(name)
            if on_outage:
                on_outage()
            with contextlib.suppress(DatabaseError):
                connection.close()
        except Exception:  # a bug in one pass must not stop the work for good
            log.exception("%s: pass failed; retrying", name)
        if not busy:
            stop.wait(interval)
    with contextlib.suppress(DatabaseError):
        connection.close()
