"""The public read path answers from the in-memory snapshot, never from the database."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from heliograph.catalog.models import Component, Page
from heliograph.catalog.services import set_component_status
from heliograph.lib import heartbeat
from heliograph.publish.build import publish_page, read_export
from heliograph.publish.node import Node
from heliograph.publish.store import SnapshotStore


class Response:
    """One request through the web node, as Granian would make it."""

    def __init__(self, app: Node, path: str, method: str = "GET", **headers: str) -> None:
        scope = {
            "type": "http", "method": method, "path": path,
            "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        }  # fmt: skip
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        asyncio.run(app(scope, receive, send))
        self.status = sent[0]["status"]
        self.headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
        self.body = b"".join(message.get("body", b"") for message in sent[1:])


async def django_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


def node(store: SnapshotStore) -> Node:
    """The web node over ``store``, with a stand-in for Django."""
    return Node(django_app, store, heartbeat.Board(Path("no-such-folder")))


@pytest.fixture
def app(page: Page) -> Node:
    publish_page(page)
    store = SnapshotStore()
    store.refresh()
    return node(store)


def test_it_serves_the_page_and_json_without_a_query(
    app: Node, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        index = Response(app, "/")
        summary = Response(app, "/api/v2/summary.json")
    assert index.status == 200 and b"Cluster A" in index.body
    assert index.headers["Content-Type"].startswith("text/html")
    assert summary.status == 200 and summary.headers["Content-Type"] == "application/json"
    assert summary.headers["Access-Control-Allow-Origin"] == "*"
    assert "stale-if-error=86400" in summary.headers["Cache-Control"]


def test_it_answers_304_to_a_matching_etag(app: Node) -> None:
    first = Response(app, "/api/v2/status.json")
    again = Response(app, "/api/v2/status.json", if_none_match=first.headers["ETag"])
    assert again.status == 304 and again.body == b""


def test_it_answers_head_with_headers_only(app: Node) -> None:
    head = Response(app, "/api/v2/components.json", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert int(head.headers["Content-Length"]) > 0


def test_it_answers_404_for_unknown_paths(app: Node) -> None:
    assert Response(app, "/api/v2/nope.json").status == 404
    head = Response(app, "/api/v2/nope.json", method="HEAD")
    assert head.status == 404 and head.body == b""
    missing = Response(app, "/no/such/page")
    assert missing.status == 404 and b"<html" in missing.body.lower()


def test_it_refuses_writes_to_public_paths(app: Node) -> None:
    assert Response(app, "/api/v2/summary.json", method="POST").status == 405


def test_it_hands_other_paths_to_django(app: Node) -> None:
    assert Response(app, "/v1/pages").body == b"django"


def test_it_serves_trailing_slash_and_index_variants(app: Node, incident: Any) -> None:
    assert Response(app, f"/incidents/{incident.pk}/").status == 200
    assert Response(app, "/index.html").status == 200


def test_it_shows_a_new_version_after_refresh(app: Node, page: Page, cluster_a: Component) -> None:
    set_component_status(component=cluster_a, status="major_outage")
    publish_page(page)
    assert b"All Systems Operational" in Response(app, "/api/v2/status.json").body
    app.store.refresh()
    assert b"Major System Outage" in Response(app, "/api/v2/status.json").body


def test_it_exports_a_tree_nginx_can_serve(page: Page, export_dir: Path) -> None:
    publish_page(page)
    entries = read_export(page.pk)
    assert entries is not None
    assert (export_dir / page.pk / "index.html").read_bytes() == entries["/"].body
    assert (export_dir / page.pk / "api/v2/summary.json").exists()


def test_it_keeps_every_nodes_export_current(page: Page, export_dir: Path) -> None:
    """A node that never publishes still writes what it loads, for the nginx next to it."""
    snapshot = publish_page(page)
    assert snapshot is not None
    shutil.rmtree(export_dir)
    store = SnapshotStore()
    store.refresh()
    exported = read_export(page.pk)
    assert exported is not None and exported["/"].body == store.sites[page.pk].entries["/"].body
    assert (export_dir / "sites.json").exists()
