"""A WSGI application (Django) served under Granian's RSGI, in a thread pool of its own.

The web node answers public reads on Granian's event loop through RSGI, its fastest
interface; everything else is handed here. Only these threads ever wait on the database,
so however many of them are stuck, the event loop keeps answering public reads.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Headers = list[tuple[str, str]]

MAX_BODY = 10 * 1024 * 1024  # refused before reading; Django's own limits apply below it
TOO_LARGE = b"The request body is too large.\n"


class WSGIBridge:
    def __init__(self, app: WSGIApp, threads: int) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="django")

    async def __call__(self, scope: Any, protocol: Any) -> None:
        length = scope.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            protocol.response_bytes(413, [("content-type", "text/plain")], TOO_LARGE)
            return
        environ = wsgi_environ(scope, await protocol())
        loop = asyncio.get_running_loop()
        status, headers, body = await loop.run_in_executor(self.pool, call, self.app, environ)
        protocol.response_bytes(status, headers, body)


def wsgi_environ(scope: Any, body: bytes) -> dict[str, Any]:
    server_name, _, server_port = scope.server.rpartition(":")
    client, _, _ = scope.client.rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        # WSGI carries the raw path bytes as latin-1; RSGI gives it decoded as UTF-8.
        "PATH_INFO": scope.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": client.strip("[]"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": scope.scheme,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in scope.headers.items():
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call(app: WSGIApp, environ: dict[str, Any]) -> tuple[int, Headers, bytes]:
    """Run the application; its whole answer, as status, headers and body."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: Headers, exc_info: Any = None) -> None:
        answer.update(status=int(status[:3]), headers=headers)

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return answer["status"], answer["headers"], body
