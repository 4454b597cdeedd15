"""Bounded database waits: no query, commit or connect may hold a thread for long.

PostgreSQL's own timeouts (statement, lock) only help while the server answers. When it
hangs — a network partition, a stuck volume, a proxy that swallows packets — the client
waits on a socket forever. A watchdog thread therefore ends any database call that runs
past its deadline: it shuts down the PostgreSQL connection's socket (the driver then
fails at once) or interrupts the SQLite statement. The caller gets a DatabaseError, which
the web layer turns into a 503 and the background loops ride out.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

_FROM_SETTINGS = -1.0
# Seconds one database call may take in this process; None: unbounded (migrations).
_process_timeout: float | None = _FROM_SETTINGS
_local = threading.local()


def configure(seconds: float | None) -> None:
    """Set this process's bound; connections opened later take it as their server-side
    timeouts too. Web nodes keep ``settings.DB_TIMEOUT``; background loops take longer."""
    global _process_timeout
    _process_timeout = seconds


def timeout() -> float | None:
    """The bound for the calling thread: a ``limit`` around it, else the process's."""
    if seconds := getattr(_local, "seconds", None):
        return float(seconds)
    if _process_timeout == _FROM_SETTINGS:
        from django.conf import settings

        return float(settings.DB_TIMEOUT)
    return _process_timeout


@contextlib.contextmanager
def limit(seconds: float, probe: bool = False) -> Iterator[None]:
    """A tighter bound for this thread's calls (the health poll wants an answer soon).
    A ``probe`` may connect even while the database is known to be unreachable."""
    before = getattr(_local, "seconds", None), getattr(_local, "probe", False)
    _local.seconds, _local.probe = seconds, probe
    try:
        yield
    finally:
        _local.seconds, _local.probe = before


def probing() -> bool:
    return bool(getattr(_local, "probe", False))


def _assume_ok() -> str:
    return "ok"


_state_source: Callable[[], str] = _assume_ok


def watch_state(source: Callable[[], str]) -> None:
    """Name what knows whether the database answers (a web node's snapshot poll)."""
    global _state_source
    _state_source = source


def database_state() -> str:
    """``ok``, ``slow`` or ``unreachable``, as this process last saw it."""
    return _state_source()


class _Watchdog:
    """Calls each registered abort once its deadline passes, unless it was withdrawn."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[int, tuple[float, Callable[[], None], str]] = {}
        self._keys = itertools.count()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, seconds: float | None, abort: Callable[[], None], what: str) -> Iterator[None]:
        if seconds is None:
            yield
            return
        key = next(self._keys)
        with self._lock:
            self._due[key] = (time.monotonic() + seconds, abort, what)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:  # after this, the abort can no longer fire
                self._due.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            with self._lock:  # held while aborting: the connection cannot close meanwhile
                for key, (due, abort, what) in list(self._due.items()):
                    if due <= now:
                        del self._due[key]
                        log.warning("database: %s got no answer in time; connection dropped", what)
                        with contextlib.suppress(Exception):
                            abort()


watchdog = _Watchdog()
