"""The public read path answers from the in-memory snapshot, never from the database."""

from __future__ import annotations

import gzip
import shutil
import threading
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from heliograph.catalog.models import Component, Page
from heliograph.catalog.services import set_component_status
from heliograph.incidents.services import delete_incident
from heliograph.publish import build
from heliograph.publish import store as store_module
from heliograph.publish.build import publish_page
from heliograph.publish.export import read_export
from heliograph.publish.models import Blob
from heliograph.publish.node import Node
from heliograph.publish.store import SnapshotStore
from tests.support.readpath import Response, node


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


def test_before_any_page_it_says_so_and_shows_the_owner_the_way_in(db: None) -> None:
    store = SnapshotStore()
    store.refresh()
    empty = Response(node(store), "/")
    assert empty.status == 503 and empty.headers["Retry-After"] == "30"
    assert empty.headers["Content-Type"].startswith("text/html")
    assert b"<h1>This status page is not set up yet</h1>" in empty.body
    assert b'<a href="/console/">Open the console</a>' in empty.body


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


def test_it_refuses_writes_to_public_paths_saying_what_is_allowed(app: Node) -> None:
    api = Response(app, "/api/v2/summary.json", method="POST")
    assert api.status == 405 and api.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert api.headers["Cache-Control"] == "no-store"  # a later GET must not get the 405
    assert api.headers["Content-Type"] == "application/json" and b"Read only" in api.body
    assert api.headers["Access-Control-Allow-Origin"] == "*"
    page = Response(app, "/history", method="DELETE")
    assert page.status == 405 and page.headers["Content-Type"].startswith("text/plain")


def test_it_steps_aside_for_a_balancer_when_it_has_not_heard_from_the_database(
    app: Node,
) -> None:
    asked = {"x_heliograph_require_fresh": "1"}
    assert Response(app, "/api/v2/status.json", **asked).status == 200  # just polled
    app.store._last_ok -= 60  # a minute without news: it may be behind
    assert Response(app, "/api/v2/status.json", **asked).status == 503
    assert Response(app, "/api/v2/status.json").status == 200  # visitors still get its copy
    app.store.refresh()
    assert Response(app, "/api/v2/status.json", **asked).status == 200


def test_it_answers_a_browsers_cors_preflight(app: Node) -> None:
    preflight = Response(
        app,
        "/api/v2/summary.json",
        method="OPTIONS",
        origin="https://example.org",
        access_control_request_headers="if-none-match",
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "If-None-Match" in preflight.headers["Access-Control-Allow-Headers"]
    assert int(preflight.headers["Access-Control-Max-Age"]) >= 600
    got = Response(app, "/api/v2/summary.json")
    assert got.headers["Access-Control-Expose-Headers"] == "ETag"  # scripts may revalidate


def test_it_lets_other_sites_frame_a_page_only_when_it_is_embeddable(app: Node, page: Page) -> None:
    assert "frame-ancestors 'none'" in Response(app, "/").headers["Content-Security-Policy"]
    call_command("page", "update", "OpenSRS", "--embeddable", stdout=StringIO())
    publish_page(Page.objects.get(pk=page.pk))
    app.store.refresh()
    assert "frame-ancestors *" in Response(app, "/").headers["Content-Security-Policy"]


def test_it_protects_public_pages_from_sniffing_framing_and_scripts(app: Node) -> None:
    index = Response(app, "/")
    policy = index.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert "script-src" not in policy  # public pages run no script at all
    assert index.headers["X-Content-Type-Options"] == "nosniff"
    assert index.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


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


def test_it_exports_a_tree_nginx_can_serve(app: Node, page: Page, export_dir: Path) -> None:
    assert (export_dir / page.pk / "index.html").read_bytes() == Response(app, "/").body
    assert (export_dir / page.pk / "api/v2/summary.json").exists()
    exported = read_export(page.pk)
    assert exported is not None and exported[0] == app.store.sites[page.pk].version


def test_it_keeps_every_nodes_export_current(page: Page, export_dir: Path) -> None:
    """A node that never publishes still writes what it loads, for the nginx next to it."""
    snapshot = publish_page(page)
    assert snapshot is not None
    shutil.rmtree(export_dir)
    store = SnapshotStore()
    store.refresh()
    assert (export_dir / page.pk / "index.html").read_bytes() == store.sites[page.pk].entries[
        "/"
    ].body
    assert (export_dir / "sites.json").exists()


def test_it_keeps_old_pages_on_disk_and_reads_them_without_a_query(
    app: Node, page: Page, incident: Any, export_dir: Path, django_assert_num_queries: Any
) -> None:
    site = app.store.sites[page.pk]
    path = f"/incidents/{incident.pk}"
    assert site.entries[path].body is None  # not held in memory: read when asked for
    assert site.entries["/"].body is not None  # the bounded documents are
    with django_assert_num_queries(0):
        first = Response(app, path)
    assert first.status == 200 and b"Cluster A - Inbound Delays" in first.body
    assert (
        first.body == (export_dir / page.pk / "incidents" / incident.pk / "index.html").read_bytes()
    )


def test_it_answers_503_when_a_body_is_gone_from_its_disk(
    app: Node, page: Page, incident: Any, export_dir: Path
) -> None:
    shutil.rmtree(export_dir / f"{page.pk}.blobs")
    missing = Response(app, f"/incidents/{incident.pk}")
    assert missing.status == 503 and missing.headers["Retry-After"] == "5"
    assert Response(app, "/").status == 200  # what it holds in memory it still serves


def test_it_loads_new_versions_while_the_last_one_is_still_being_exported(
    page: Page, cluster_a: Component, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linking a version's files (thousands on a node's first) never holds up the next."""
    disk_free = threading.Event()
    slow_export = store_module.export
    monkeypatch.setattr(
        store_module, "export", lambda *args: disk_free.wait(30) and slow_export(*args)
    )
    monkeypatch.setattr(build, "export", lambda *args: None)  # the node's export alone
    publish_page(page)
    store = SnapshotStore()
    store.start_exporting()
    store.refresh()
    for status in ("major_outage", "degraded_performance"):
        set_component_status(component=cluster_a, status=status)
        newest = publish_page(page)
        store.refresh()
        assert newest is not None and store.sites[page.pk].version == newest.version
    assert read_export(page.pk) is None  # nothing on disk yet
    disk_free.set()
    deadline = time.monotonic() + 10
    while (read_export(page.pk) or (0,))[0] != newest.version and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (read_export(page.pk) or (0,))[0] == newest.version


BROWSER = "gzip, deflate, br, zstd"  # what Chromium and Firefox send


def test_it_sends_browsers_the_gzip_form_of_a_page(app: Node) -> None:
    plain = Response(app, "/")
    packed = Response(app, "/", accept_encoding=BROWSER)
    assert packed.status == 200 and packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.body) == plain.body
    assert len(packed.body) < len(plain.body) / 3
    assert packed.headers["Vary"] == plain.headers["Vary"] == "Accept-Encoding"
    assert packed.headers["Content-Type"] == plain.headers["Content-Type"]
    assert packed.headers["ETag"] != plain.headers["ETag"]  # other bytes, other validator


@pytest.mark.parametrize(
    "accepted", ["", "identity", "br", "gzip;q=0", "x-gzip; q=0.000", "*;q=0", "*, gzip;q=0"]
)
def test_it_sends_the_plain_body_to_clients_that_do_not_take_gzip(app: Node, accepted: str) -> None:
    got = Response(app, "/", accept_encoding=accepted)
    assert got.status == 200 and "Content-Encoding" not in got.headers
    assert b"Cluster A" in got.body and got.headers["Vary"] == "Accept-Encoding"


@pytest.mark.parametrize("accepted", ["gzip", "GZIP;q=0.5", "x-gzip", "*", "br;q=1, gzip;q=0.1"])
def test_it_reads_each_way_of_accepting_gzip(app: Node, accepted: str) -> None:
    assert Response(app, "/", accept_encoding=accepted).headers["Content-Encoding"] == "gzip"


def test_it_answers_304_to_the_etag_of_either_form(app: Node) -> None:
    plain = Response(app, "/").headers["ETag"]
    packed = Response(app, "/", accept_encoding=BROWSER).headers["ETag"]
    for client in ("", BROWSER):
        for held in (plain, packed, f'W/{packed}, "other"'):
            again = Response(app, "/", accept_encoding=client, if_none_match=held)
            assert again.status == 304 and again.body == b"", (client, held)
            assert again.headers["ETag"] in held and again.headers["Vary"] == "Accept-Encoding"
    stale = Response(app, "/", accept_encoding=BROWSER, if_none_match='"an-old-version-gzip"')
    assert stale.status == 200 and stale.headers["ETag"] == packed


def test_it_answers_head_for_the_gzip_form(app: Node) -> None:
    packed = Response(app, "/history.atom", accept_encoding="gzip")
    head = Response(app, "/history.atom", method="HEAD", accept_encoding="gzip")
    assert head.status == 200 and head.body == b""
    assert (
        head.headers["Content-Encoding"] == "gzip"
        and head.headers["ETag"] == packed.headers["ETag"]
    )
    assert int(head.headers["Content-Length"]) == len(packed.body)


def test_it_leaves_small_documents_uncompressed(app: Node) -> None:
    status = Response(app, "/api/v2/status.json", accept_encoding=BROWSER)
    assert status.status == 200 and len(status.body) < 1024
    assert "Content-Encoding" not in status.headers and "Vary" not in status.headers


def test_it_sends_the_gzip_form_of_an_old_page_read_from_disk(
    app: Node, page: Page, incident: Any
) -> None:
    path = f"/incidents/{incident.pk}"
    assert app.store.sites[page.pk].entries[path].body is None  # on disk, not in memory
    packed = Response(app, path, accept_encoding=BROWSER)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.body) == Response(app, path).body


def test_it_serves_the_gzip_form_the_publisher_stored_without_compressing_again(
    page: Page, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_page(page)
    shutil.rmtree(export_dir)  # a node of its own, which has only the database
    monkeypatch.setattr(gzip, "compress", lambda *_, **__: pytest.fail("compressed again"))
    store = SnapshotStore()
    store.refresh()
    packed = Response(node(store), "/", accept_encoding=BROWSER)
    assert packed.headers["Content-Encoding"] == "gzip" and b"Cluster A" in gzip.decompress(
        packed.body
    )


def test_it_compresses_bodies_stored_before_they_had_a_gzip_form(
    page: Page, export_dir: Path
) -> None:
    publish_page(page)
    for blob in Blob.objects.exclude(gzipped=None):  # as an earlier release stored them
        Blob.objects.filter(pk=blob.pk).update(body=gzip.decompress(blob.gzipped), gzipped=None)
    shutil.rmtree(export_dir)
    store = SnapshotStore()
    store.refresh()
    packed = Response(node(store), "/", accept_encoding=BROWSER)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert (export_dir / page.pk / "index.html.gz").exists()  # and nginx has it too


def test_it_exports_the_gzip_form_beside_each_file_for_nginx(
    app: Node, page: Page, incident: Any, export_dir: Path
) -> None:
    tree = export_dir / page.pk
    for name in ("index.html", f"incidents/{incident.pk}/index.html", "history.atom"):
        assert gzip.decompress((tree / f"{name}.gz").read_bytes()) == (tree / name).read_bytes()
    assert not (tree / "api/v2/status.json.gz").exists()  # too small to pay


def test_it_removes_a_deleted_incidents_files_and_their_gzip_forms(
    app: Node, page: Page, incident: Any, export_dir: Path
) -> None:
    folder = export_dir / page.pk / "incidents" / incident.pk
    assert (folder / "index.html.gz").exists()
    delete_incident(incident=incident)
    publish_page(page)
    assert not folder.exists()
