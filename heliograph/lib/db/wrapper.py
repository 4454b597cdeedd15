"""The part both database backends share: every wait on the server runs under a deadline."""

from __future__ import annotations

from typing import Any

from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

from heliograph.lib.db import guard

GRACE_SECONDS = 1.0


class GuardedWrapper(BaseDatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute_wrappers.append(self._bounded_execute)

    def abort_connection(self) -> None:
        """Make the call blocked on this connection fail now (called from the watchdog)."""
        raise NotImplementedError

    def _watch(self, what: str) -> Any:
        # A little after the server's own timeouts, which leave the connection usable.
        seconds = guard.timeout()
        deadline = None if seconds is None else seconds + GRACE_SECONDS
        return guard.watchdog.watch(deadline, self.abort_connection, what)

    def _bounded_execute(
        self, execute: Any, sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        with self._watch("a query"):
            return execute(sql, params, many, context)

    def connect(self) -> None:
        # While this node knows the database is unreachable, requests fail at once rather
        # than each waiting out a connect timeout; the node's own poll still tries.
        if guard.database_state() == "unreachable" and not guard.probing():
            raise OperationalError("the database is unreachable (this node's last check failed)")
        with self._watch("a new connection"):
            super().connect()

    def _commit(self) -> None:
        with self._watch("a commit"):
            super()._commit()  # type: ignore[misc]

    def _rollback(self) -> None:
        with self._watch("a rollback"):
            super()._rollback()  # type: ignore[misc]

    def is_usable(self) -> bool:
        with self._watch("a connection check"):
            return bool(super().is_usable())
