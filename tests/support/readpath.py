"""A read-path node over a snapshot store, and what it answered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from heliograph.lib import heartbeat
from heliograph.publish.node import Node
from heliograph.publish.store import SnapshotStore
from heliograph.urls import django_prefixes


class Response:
    """One request through the web node, as Granian would make it (RSGI)."""

    def __init__(self, app: Node, path: str, method: str = "GET", **headers: str) -> None:
        names = {k.replace("_", "-").lower(): v for k, v in headers.items()}
        scope = SimpleNamespace(method=method, path=path, headers=names)
        protocol = SimpleNamespace(response_bytes=self._respond)
        asyncio.run(app.__rsgi__(scope, protocol))

    def _respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, dict(headers), body


def node(store: SnapshotStore) -> Node:
    """The web node over ``store``, with a stand-in for Django."""
    return Node(django_app, store, heartbeat.Board(Path("no-such-folder")), django_prefixes())


async def django_app(scope: Any, protocol: Any) -> None:
    protocol.response_bytes(200, [], b"django")
