"""A real Heliograph (``heliograph demo``) in a subprocess, on the database under test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import psycopg
from django.conf import settings

# The relay the fixture world has: configured (so public pages offer e-mail), and down
# (nothing listens on the discard port), unless a test gives its own.
RELAY_DOWN = "smtp://127.0.0.1:9?starttls=0&timeout=2"


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether ``check`` came true within ``timeout`` seconds (asked every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
        """Status, headers (case-insensitive) and body."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def status_of(self, path: str) -> int:
        """The status of a GET, or 0 while nothing answers (a restart under way)."""
        try:
            return self.get(path)[0]
        except OSError:
            return 0

    def health(self) -> dict:
        return json.loads(self.get("/healthz")[2])

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "heliograph", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            input=stdin,
        )


@contextlib.contextmanager
def scratch_database() -> Iterator[str | None]:
    """A new empty PostgreSQL database when tests run on PostgreSQL; None on SQLite."""
    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("postgresql"):
        yield None
        return
    name = f"heliograph_live_{uuid.uuid4().hex[:10]}"
    server = dict(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres")
    with psycopg.connect(**server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{name}"
    finally:
        with psycopg.connect(**server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_demo(
    data_dir: Path,
    database_url: str | None = None,
    command: str = "demo",
    settings: dict[str, str] | None = None,
) -> Iterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HELIOGRAPH_BASE_URL")}
    env.update(HELIOGRAPH_DATA=str(data_dir), HELIOGRAPH_POLL_INTERVAL="0.2")
    env.update({"HELIOGRAPH_SMTP_URL": RELAY_DOWN, **(settings or {})})
    if database_url:
        env["DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [sys.executable, "-m", "heliograph", command, "--port", str(port)],
        env=env,
        start_new_session=True,
    )
    server = Server(f"http://127.0.0.1:{port}", env, process)
    try:
        _wait_until_published(server)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_published(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"heliograph demo exited with {server.process.returncode}")
        with contextlib.suppress(OSError, ValueError):
            if server.health()["pages"]:
                return
        time.sleep(0.2)
    raise RuntimeError("heliograph demo did not publish within a minute")


class TcpProxy:
    """Forwards a loopback port to a server (PostgreSQL, an MX), and breaks the way networks
    break.

    ``cut()``: the server refuses (connections reset, new ones refused; ``reopen()`` undoes
    it). ``hang()``: a black hole, as in a partition or a stuck volume: bytes are accepted
    and never answered, new connections are accepted and never served. ``restore()`` ends
    a hang.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.hanging = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                self.sockets.append(client)
                if self.hanging.is_set():
                    continue  # accepted, never read: the client waits for an answer forever
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self.sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self.hanging.is_set():  # in a hang, swallowed
                    sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def hang(self) -> None:
        self.hanging.set()

    def restore(self) -> None:
        """Serve again; connections from the hang carry swallowed bytes, so they close."""
        broken, self.sockets = self.sockets, []
        self.hanging.clear()
        for sock in broken:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def reopen(self) -> None:
        """After ``cut``: listen on the same port again (a refusing server back up)."""
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def through_proxy(database_url: str, proxy: TcpProxy) -> str:
    head, _, rest = database_url.rpartition("@")
    return f"{head}@127.0.0.1:{proxy.port}/{rest.split('/', 1)[1]}"
