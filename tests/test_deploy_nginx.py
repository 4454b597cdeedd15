"""deploy/nginx.conf in front of a running node, as README's multi-node picture has it:
public pages from the export folder, everything that writes (subscribing too) proxied."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from heliograph.urls import django_prefixes
from tests.support.live import Server, free_port, running_demo, scratch_database
from tests.support.nginx import DEPLOYED, deployed_conf, require_nginx, running_nginx

require_nginx()


@dataclass
class Deployed:
    front: Server  # nginx before the node
    disk: Server  # nginx whose nodes are all down: everything public from the export folder
    tree: Path  # the export folder's tree of the page


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """nginx on the deployed config before a demo node that trusts it, and another with no
    node answering."""
    data = tmp_path_factory.mktemp("node")
    trusting = {"HELIOGRAPH_TRUSTED_PROXIES": "127.0.0.1/32"}
    with scratch_database() as url, running_demo(data, url, settings=trusting) as node:
        page_id = next(iter(node.health()["pages"]))
        port, alone, nobody = free_port(), free_port(), free_port()
        conf = deployed_conf(data=data, page_id=page_id, nodes=[node.url[7:]], port=port)
        down = deployed_conf(data=data, page_id=page_id, nodes=[f"127.0.0.1:{nobody}"], port=alone)
        with (
            running_nginx(tmp_path_factory.mktemp("nginx") / "run", conf, port),
            running_nginx(tmp_path_factory.mktemp("nginx") / "run", down, alone),
        ):
            yield Deployed(
                Server(f"http://127.0.0.1:{port}", node.env, node.process),
                Server(f"http://127.0.0.1:{alone}", node.env, node.process),
                data / "export" / page_id,
            )


@pytest.fixture(scope="module")
def front(deployed: Deployed) -> Server:
    return deployed.front


def post(server: Server, path: str, fields: dict[str, str], client: str) -> int:
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(server.url + path, data=body, method="POST")
    request.add_header("X-Forwarded-For", client)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_it_proxies_every_prefix_the_node_answers_itself() -> None:
    text = DEPLOYED.read_text()
    for prefix in django_prefixes():
        exact = "= " if prefix.endswith(".json") else ""
        assert f"location {exact}{prefix}" in text, f"deploy/nginx.conf does not proxy {prefix}"


def test_it_serves_the_page_from_disk_and_subscribing_from_the_node(front: Server) -> None:
    status, headers, body = front.get("/")
    assert status == 200 and b"Cluster A" in body
    assert headers["Server"].startswith("nginx")
    status, _, body = front.get("/notify/subscribe")
    assert status == 200 and b"Subscribe" in body
    # A one-click unsubscribe (RFC 8058) reaches the node: its "link not found", not a 405.
    assert post(front, "/notify/unsubscribe/no-such-token", {}, "198.51.100.9") == 404


def test_it_limits_subscribing_per_visitor_behind_the_proxy(front: Server) -> None:
    def subscribe(client: str, n: int) -> int:
        fields = {"subscriber[email]": f"visitor{n}@example.com"}
        return post(front, "/api/v2/subscribers.json", fields, client)

    answers = [subscribe("198.51.100.7", n) for n in range(11)]
    assert answers == [201] * 10 + [429]
    assert subscribe("198.51.100.8", 11) == 201  # another visitor is not held back


def test_it_passes_on_the_nodes_gzip_form(front: Server) -> None:
    _, plain_headers, plain = front.get("/", {"Accept-Encoding": "identity"})
    status, headers, packed = front.get("/", {"Accept-Encoding": "gzip, deflate, br"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert headers["ETag"].endswith('-gzip"')  # the node's stored form, not nginx compressing
    if headers["X-Heliograph-Version"] == plain_headers["X-Heliograph-Version"]:
        assert gzip.decompress(packed) == plain


@pytest.mark.parametrize("path", ["/", "/history.atom", "/history/2021-q3"])
def test_it_serves_the_exported_gzip_form_from_disk_when_no_node_answers(
    deployed: Deployed, path: str
) -> None:
    status, headers, packed = deployed.disk.get(path, {"Accept-Encoding": "gzip, deflate, br"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert "X-Heliograph-Version" not in headers  # from disk, not from a node
    assert headers["Vary"] == "Accept-Encoding"
    name = path.strip("/") if "." in path else f"{path.strip('/')}/index.html".lstrip("/")
    assert packed == (deployed.tree / f"{name}.gz").read_bytes()  # as exported, not redone
    status, headers, plain = deployed.disk.get(path, {"Accept-Encoding": "gzip;q=0"})
    assert status == 200 and "Content-Encoding" not in headers
    assert gzip.decompress(packed) == plain
