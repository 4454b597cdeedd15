"""The web node (Granian's RSGI): public reads on the event loop, Django in its own pool.

Public pages, the v2 JSON, feeds and /healthz are answered from memory on the event
loop, so no amount of Django work waiting on the database can delay them. Django gets its
own thread pool (``lib.wsgi_bridge``); while the database is known to be unreachable its
requests are refused with a 503 at once instead of queueing for threads that would only
wait.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from heliograph.lib import heartbeat, outage
from heliograph.lib.db import guard
from heliograph.publish.readpath import FRESH_HEADER, Answer, ReadPath
from heliograph.publish.store import SnapshotStore

Django = Callable[[Any, Any], Awaitable[None]]
HEALTH_HEADERS = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]


class Node:
    def __init__(
        self,
        django: Django,
        store: SnapshotStore,
        beats: heartbeat.Board,
        django_prefixes: tuple[str, ...],
    ) -> None:
        self.django = django
        self.store = store
        self.read_path = ReadPath(store, django_prefixes)
        self.beats = beats

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        path = scope.path
        if path == "/healthz":
            answer: Answer | None = self.health()
        else:
            headers = scope.headers
            answer = self.read_path.answer(
                scope.method,
                path,
                headers.get("host", ""),
                headers.get("if-none-match", ""),
                fresh=FRESH_HEADER in headers,
                accept_encoding=headers.get("accept-encoding", ""),
            )
        if answer is None and guard.database_state() == "unreachable":
            answer = Answer(*outage.refusal(path))
        if answer is None:
            await self.django(scope, protocol)
        else:
            protocol.response_bytes(answer.status, answer.headers, answer.body)

    def health(self) -> Answer:
        body = json.dumps(
            {
                "database": self.store.database_state(),
                "pages": {pid: site.version for pid, site in self.store.sites.items()},
                "processes": self.beats.report(time.time()),
            }
        ).encode()
        return Answer(200, HEALTH_HEADERS, body)
