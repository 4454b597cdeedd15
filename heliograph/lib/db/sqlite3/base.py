"""Django's SQLite backend with bounded waits: the busy timeout and, for a statement that
runs too long, an interrupt from the watchdog."""

from __future__ import annotations

from typing import Any

from django.db.backends.sqlite3 import base

from heliograph.lib.db import guard
from heliograph.lib.db.wrapper import GuardedWrapper


class DatabaseWrapper(GuardedWrapper, base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        seconds = guard.timeout()
        params["timeout"] = 3600.0 if seconds is None else seconds  # the busy wait
        return params

    def abort_connection(self) -> None:
        if self.connection is not None:
            self.connection.interrupt()
