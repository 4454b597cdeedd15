"""A real running Heliograph: what clients see over HTTP, and through a database outage."""

from __future__ import annotations

import gzip
import json
import os
import signal
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from tests.support.live import (
    Server,
    TcpProxy,
    running_demo,
    scratch_database,
    through_proxy,
    wait_for,
)


def test_it_prints_the_url_and_serves_the_example(demo_server: Server) -> None:
    status, headers, body = demo_server.get("/")
    assert status == 200 and b"OpenSRS" in body and b"Cluster A" in body
    summary = json.loads(demo_server.get("/api/v2/summary.json")[2])
    assert summary["page"]["name"] == "OpenSRS"
    assert summary["status"]["description"] == "All Systems Operational"


def test_it_answers_304_and_head_over_http(demo_server: Server) -> None:
    _, headers, _ = demo_server.get("/api/v2/status.json")
    status, _, body = demo_server.get("/api/v2/status.json", {"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""


def both_forms(server: Server, path: str) -> tuple[Message, bytes, Message, bytes]:
    """The plain and the gzip answer to ``path`` from one version (a test before may
    still be publishing one)."""
    for _ in range(20):
        _, plain_headers, plain = server.get(path, {"Accept-Encoding": "identity"})
        _, headers, packed = server.get(path, {"Accept-Encoding": "gzip, deflate, br"})
        if headers["X-Heliograph-Version"] == plain_headers["X-Heliograph-Version"]:
            return plain_headers, plain, headers, packed
    raise AssertionError(f"{path} changed version on every try")


@pytest.mark.parametrize("path", ["/", "/history.atom"])
def test_it_sends_gzip_over_http_only_to_clients_that_take_it(
    demo_server: Server, path: str
) -> None:
    plain_headers, plain, headers, packed = both_forms(demo_server, path)
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(packed) == plain
    assert int(headers["Content-Length"]) == len(packed) < len(plain)
    assert headers["Vary"] == plain_headers["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in plain_headers
    for refused in ("gzip;q=0", "br", ""):
        status, got, _ = demo_server.get(path, {"Accept-Encoding": refused} if refused else {})
        assert status == 200 and "Content-Encoding" not in got, refused
    for etag in (plain_headers["ETag"], headers["ETag"]):
        for accepted in ("gzip", "identity"):
            asked = {"Accept-Encoding": accepted, "If-None-Match": etag}
            assert demo_server.get(path, asked)[0] == 304, (etag, accepted)


def test_it_answers_head_for_either_form_over_http(demo_server: Server) -> None:
    plain_headers, plain, headers, packed = both_forms(demo_server, "/")
    for accepted, length, encoding in (
        ("gzip", len(packed), "gzip"),
        ("identity", len(plain), None),
    ):
        request = urllib.request.Request(
            demo_server.url + "/", method="HEAD", headers={"Accept-Encoding": accepted}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and response.read() == b""
            assert int(response.headers["Content-Length"]) == length
            assert response.headers["Content-Encoding"] == encoding


def test_it_shows_a_cli_change_on_the_page(demo_server: Server) -> None:
    result = demo_server.cli("component", "set", "Cluster A", "partial_outage", "--page", "OpenSRS")
    assert result.returncode == 0, result.stderr

    def outage_shown() -> bool:
        status = json.loads(demo_server.get("/api/v2/status.json")[2])["status"]
        return status["description"] == "Partial System Outage"

    try:
        assert wait_for(outage_shown)
    finally:
        demo_server.cli("component", "set", "Cluster A", "operational", "--page", "OpenSRS")


def _make_unreachable(data_dir: Path, proxy: TcpProxy | None) -> None:
    if proxy:
        proxy.cut()
        return
    # SQLite: the file is moved away and a folder stands in its place, so opening fails.
    for name in ("heliograph.sqlite3", "heliograph.sqlite3-wal", "heliograph.sqlite3-shm"):
        path = data_dir / name
        if path.exists():
            path.rename(path.with_name(name + ".gone"))
    (data_dir / "heliograph.sqlite3").mkdir()


def test_it_keeps_serving_when_the_database_goes_away(tmp_path: Path) -> None:
    with scratch_database() as url:
        proxy = None
        if url:
            host_port = url.rsplit("@", 1)[1].split("/", 1)[0]
            host, port = host_port.split(":")
            proxy = TcpProxy(host, int(port))
            url = through_proxy(url, proxy)
        with running_demo(tmp_path, url) as server:
            _make_unreachable(tmp_path, proxy)
            assert wait_for(lambda: server.health()["database"] == "unreachable")
            assert server.get("/")[0] == 200
            summary = json.loads(server.get("/api/v2/summary.json")[2])
            assert summary["page"]["name"] == "OpenSRS"
        # ... and after a restart while it is still down, from the export folder.
        with running_demo(tmp_path, url, command="run") as restarted:
            assert restarted.get("/api/v2/status.json")[0] == 200
            assert restarted.health()["database"] == "unreachable"


@pytest.mark.parametrize("path", ["/history.atom", "/history.rss", "/history/2021-q3"])
def test_it_serves_history_and_feeds(demo_server: Server, path: str) -> None:
    status, _, body = demo_server.get(path)
    assert status == 200 and b"Cluster A - Inbound Delays" in body
    assert demo_server.get("/history")[0] == 200


def test_it_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    with scratch_database() as url, running_demo(tmp_path, url) as server:
        children = server.cli("publish")  # the database is shared and answers
        assert children.returncode == 0
        # Commands print links to where the demo serves, not to a guessed port.
        opened = server.cli(
            "incident", "open", "Delays", "--page", "OpenSRS", "--body", "Looking.", "--json"
        )
        assert json.loads(opened.stdout)["shortlink"].startswith(server.url + "/incidents/")
        os.killpg(server.process.pid, signal.SIGINT)
        assert server.process.wait(timeout=15) == 0
        assert wait_for(lambda: not _group_alive(server.process.pid), timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
