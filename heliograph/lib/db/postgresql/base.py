"""Django's PostgreSQL backend with bounded waits: connect, statement and lock timeouts,
and the watchdog for a server that stops answering altogether."""

from __future__ import annotations

import contextlib
import math
import os
import socket
from typing import Any

from django.db.backends.postgresql import base

from heliograph.lib.db import guard
from heliograph.lib.db.wrapper import GuardedWrapper


class DatabaseWrapper(GuardedWrapper, base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        seconds = guard.timeout()
        if seconds is None:
            return params
        millis = int(seconds * 1000)
        params.setdefault("connect_timeout", max(2, math.ceil(seconds)))  # libpq's minimum
        params["options"] = " ".join(
            [
                params.get("options", ""),
                f"-c statement_timeout={millis}",
                f"-c lock_timeout={millis}",
                "-c idle_in_transaction_session_timeout=60000",
            ]
        ).strip()
        return params

    def abort_connection(self) -> None:
        raw = self.connection
        if raw is None:
            return
        # Shutting the socket down wakes the thread blocked on it; the driver then fails.
        with socket.socket(fileno=os.dup(raw.fileno())) as sock, contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
