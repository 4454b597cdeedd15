"""The web node (ASGI): public reads on the event loop, Django in a bounded thread pool.

Public pages, the v2 JSON, feeds and /healthz are answered from memory on the event
loop, so no amount of Django work waiting on the database can delay them. Django gets its
own thread pool; while the database is known to be unreachable its requests are refused
with a 503 at once instead of queueing for threads that would only wait.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from heliograph.lib import heartbeat, outage
from heliograph.lib.db import guard
from heliograph.publish.readpath import Answer, ReadPath
from heliograph.publish.store import SnapshotStore

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Node:
    def __init__(self, django: ASGIApp, store: SnapshotStore, beats: heartbeat.Board) -> None:
        self.django = django
        self.store = store
        self.read_path = ReadPath(store)
        self.beats = beats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope.get("path") or "/"
        answer = self.public(scope, path)
        if answer is None and guard.database_state() == "unreachable":
            answer = Answer(*outage.refusal(path))
        if answer is None:
            await self.django(scope, _as_coroutines(receive), _as_coroutines(send))
            return
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [(k.encode(), v.encode()) for k, v in answer.headers]})  # fmt: skip
        await send({"type": "http.response.body", "body": answer.body})

    def public(self, scope: Scope, path: str) -> Answer | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if path == "/healthz":
            return self.health()
        return self.read_path.answer(scope["method"], path, lambda name: headers.get(name, ""))

    def health(self) -> Answer:
        body = json.dumps({
            "database": self.store.database_state(),
            "pages": {pid: site.version for pid, site in self.store.sites.items()},
            "processes": self.beats.report(time.time()),
        }).encode()  # fmt: skip
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        return Answer(200, headers, body)


def _as_coroutines(call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """a2wsgi hands ``receive``/``send`` to run_coroutine_threadsafe, which takes only
    coroutines; Granian's are awaitables of another kind."""

    async def wrapped(*args: Any) -> Any:
        return await call(*args)

    return wrapped


async def _lifespan(receive: Receive, send: Send) -> None:
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})
