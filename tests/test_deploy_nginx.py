"""deploy/nginx.conf in front of a running node, as README's multi-node picture has it:
public pages from the export folder, everything that writes (subscribing too) proxied."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from heliograph.publish.readpath import DJANGO_PREFIXES
from tests.live import Server, free_port, running_demo, scratch_database
from tests.nginx import DEPLOYED, deployed_conf, require_nginx, running_nginx

require_nginx()


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """nginx on the deployed config before a demo node that trusts it; yields nginx's URL."""
    data = tmp_path_factory.mktemp("node")
    trusting = {"HELIOGRAPH_TRUSTED_PROXIES": "127.0.0.1/32"}
    with scratch_database() as url, running_demo(data, url, settings=trusting) as node:
        page_id = next(iter(node.health()["pages"]))
        port = free_port()
        conf = deployed_conf(data=data, page_id=page_id, nodes=[node.url[7:]], port=port)
        with running_nginx(tmp_path_factory.mktemp("nginx") / "run", conf, port):
            yield Server(f"http://127.0.0.1:{port}", node.env, node.process)


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
    for prefix in DJANGO_PREFIXES:
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
