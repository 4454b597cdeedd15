"""The page through a database that hangs, refuses or is locked: reads go on, writes are
refused clearly and briefly, and everything works again once the database is back."""

from __future__ import annotations

import http.cookiejar
import json
import sqlite3
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.live import (
    Server,
    TcpProxy,
    running_demo,
    scratch_database,
    stop,
    through_proxy,
    wait_for,
)
from tests.support.world import USER_PASSWORD

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
PUBLIC = [
    "/",
    "/history",
    "/history.atom",
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/incidents.json",
    "/api/v2/components.json",
]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def call(
    url: str,
    *,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    opener: urllib.request.OpenerDirector | None = None,
    timeout: float = 30,
) -> Answer:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})
    began = time.monotonic()
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=timeout) as response:
            status, got, content = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, got, content = error.code, error.headers, error.read()
    return Answer(status, {k.lower(): v for k, v in got.items()}, content, time.monotonic() - began)


class Visitor:
    """Someone with a browser: cookies kept, the CSRF token of the last login form."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        self.csrf = ""

    def open_login(self) -> None:
        form = call(self.server.url + "/console/login", opener=self.opener).body.decode()
        self.csrf = form.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]

    def log_in(self, username: str, password: str = USER_PASSWORD) -> Answer:
        data = {"csrfmiddlewaretoken": self.csrf, "username": username, "password": password}
        return call(self.server.url + "/console/login", data=data, opener=self.opener)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


@dataclass
class World:
    """A running node, an API key, a logged-in responder and a visitor at the login form."""

    server: Server
    proxy: TcpProxy | None
    key: str
    responder: Visitor
    stranger: Visitor

    def database_requests(self) -> list[Callable[[], Answer]]:
        """One of each kind of request that needs the database."""
        url, key = self.server.url, {"Authorization": f"OAuth {self.key}"}
        return [
            lambda: call(url + "/v1/pages", headers=key),
            lambda: call(
                url + "/api/v2/subscribers.json", data={"subscriber[email]": "reader@example.org"}
            ),
            lambda: self.stranger.log_in("responder", "a wrong password"),
            lambda: call(url + "/console/incidents", opener=self.responder.opener),
        ]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with scratch_database() as url:
        proxy = None
        if url:
            host, port = url.rsplit("@", 1)[1].split("/", 1)[0].split(":")
            proxy = TcpProxy(host, int(port))
            url = through_proxy(url, proxy)
        with running_demo(tmp_path, url) as server:
            key = server.cli("apikey", "create", "ops-bot").stdout.split()[-1]
            made = server.cli(
                "createuser",
                "responder",
                "--role",
                "responder",
                "--password-stdin",
                stdin=USER_PASSWORD,
            )
            assert made.returncode == 0, made.stderr
            responder, stranger = Visitor(server), Visitor(server)
            responder.open_login()
            assert responder.log_in("responder").status == 302
            stranger.open_login()
            yield World(server, proxy, key, responder, stranger)


def read_while(server: Server, done: threading.Event) -> list[tuple[str, Answer]]:
    """Public reads, round after round, until ``done``."""
    reads = []
    while not done.is_set():
        for path in [*PUBLIC, "/healthz"]:
            reads.append((path, call(server.url + path, timeout=5)))
    return reads


def assert_refused_clearly(answer: Answer) -> None:
    """A 503 that says why and when to come back: never a 500, never a traceback."""
    assert answer.status == 503, (answer.status, answer.body[:300])
    assert int(answer.headers["retry-after"]) > 0
    assert b"try again" in answer.body and b"Traceback" not in answer.body


@pytest.mark.skipif(not ON_POSTGRES, reason="a black hole needs a database on the network")
def test_it_keeps_the_page_up_while_the_database_hangs(world: World) -> None:
    server, proxy = world.server, world.proxy
    assert proxy is not None
    proxy.hang()
    hung_at = time.monotonic()
    done = threading.Event()
    with ThreadPoolExecutor(100) as pool:
        kinds = world.database_requests()
        hanging = [pool.submit(kinds[i % len(kinds)]) for i in range(100)]
        reading = pool.submit(read_while, server, done)
        assert wait_for(lambda: server.health()["database"] == "unreachable", timeout=10)
        noticed = time.monotonic() - hung_at
        refused = [future.result(timeout=60) for future in hanging]
        done.set()
        reads = reading.result()
    for answer in refused:
        assert_refused_clearly(answer)
    assert max(answer.seconds for answer in refused) < 30, "a hung request held on for long"
    assert {path for path, _ in reads} >= set(PUBLIC)
    assert [(path, a.status) for path, a in reads if a.status != 200] == []
    assert noticed < 10
    # Once the database is back, writes work again without a restart.
    proxy.restore()
    assert wait_for(lambda: server.health()["database"] == "ok", timeout=15)
    key = {"Authorization": f"OAuth {world.key}"}
    assert wait_for(lambda: call(server.url + "/v1/pages", headers=key).status == 200, 15)
    assert call(server.url + "/console/incidents", opener=world.responder.opener).status == 200


@pytest.mark.skipif(not ON_POSTGRES, reason="a black hole needs a database on the network")
def test_it_starts_while_the_database_hangs_and_serves_the_last_export(world: World) -> None:
    server, proxy = world.server, world.proxy
    assert proxy is not None
    stop(server.process)
    proxy.hang()
    began = time.monotonic()
    data = Path(server.env["HELIOGRAPH_DATA"])
    with running_demo(data, server.env["DATABASE_URL"], command="run") as restarted:
        came_up = time.monotonic() - began
        summary = json.loads(restarted.get("/api/v2/summary.json")[2])
        assert summary["page"]["name"] == "OpenSRS"
        assert wait_for(lambda: restarted.health()["database"] == "unreachable", timeout=10)
    assert came_up < 20


def test_it_refuses_writes_clearly_while_the_database_refuses(world: World) -> None:
    if world.proxy:
        world.proxy.cut()
    else:  # SQLite: the file is moved away and a folder stands in its place
        data = Path(world.server.env["HELIOGRAPH_DATA"])
        for name in ("heliograph.sqlite3", "heliograph.sqlite3-wal", "heliograph.sqlite3-shm"):
            if (data / name).exists():
                (data / name).rename(data / (name + ".gone"))
        (data / "heliograph.sqlite3").mkdir()
    server = world.server
    assert wait_for(lambda: server.health()["database"] == "unreachable", timeout=10)
    for request in world.database_requests():
        assert_refused_clearly(request())
    api = call(server.url + "/v1/pages", headers={"Authorization": f"OAuth {world.key}"})
    assert json.loads(api.body)["message"].startswith("Heliograph cannot reach its database")
    assert call(server.url + "/").status == 200


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's own lock; PostgreSQL has the black hole")
def test_it_refuses_a_write_that_waits_too_long_for_a_locked_database(world: World) -> None:
    path = Path(world.server.env["HELIOGRAPH_DATA"]) / "heliograph.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock, stuck
    try:
        data = {"subscriber[email]": "reader@example.org"}
        answer = call(world.server.url + "/api/v2/subscribers.json", data=data)
        assert_refused_clearly(answer)
        assert call(world.server.url + "/").status == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    again = call(world.server.url + "/api/v2/subscribers.json", data=data)
    assert again.status == 201
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM notify_subscriber").fetchone()
    assert rows == (1,)  # the refused attempt left nothing behind
