"""deploy/nginx.conf in front of a running node, as README's multi-node picture has it:
public pages from the export folder, everything that writes (subscribing too) proxied."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from heliograph.publish.readpath import DJANGO_PREFIXES
from tests.live import Server, free_port, running_demo, scratch_database

DEPLOYED = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"

MAIN_CONF = """\
{user}
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/heliograph.conf;
}}
"""


def require_nginx() -> str:
    path = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if path is None:
        if os.environ.get("HELIOGRAPH_REQUIRE_NGINX") == "1":
            raise RuntimeError("nginx tests are required but Debian's nginx is not installed")
        pytest.skip("nginx tests skipped: install Debian's nginx", allow_module_level=True)
    return path


NGINX = require_nginx()


def deployed_conf(*, data: Path, page_id: str, node: str, port: int) -> str:
    """The shipped file with its placeholders filled in, on loopback ports."""
    text = DEPLOYED.read_text()
    text = text.replace("/srv/heliograph/var", str(data)).replace("PAGE_ID", page_id)
    text = text.replace("listen [::]:80;", "").replace("listen 80;", f"listen 127.0.0.1:{port};")
    text = text.replace("server 127.0.0.1:8001 max_fails=2 fail_timeout=5s;", "")
    return text.replace("server 127.0.0.1:8000", f"server {node}")


@contextlib.contextmanager
def running_nginx(folder: Path, site_conf: str, port: int) -> Iterator[None]:
    folder.mkdir()
    (folder / "heliograph.conf").write_text(site_conf)
    # As root, nginx workers would run as "nobody" and could not read the temp folders.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(MAIN_CONF.format(user=user, folder=folder))
    cmd = [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", "stderr"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not _answers(port):
            assert process.poll() is None, process.stderr.read() if process.stderr else b""
            assert time.monotonic() < deadline, "nginx did not answer within 15 s"
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(10)


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """nginx on the deployed config before a demo node that trusts it; yields nginx's URL."""
    data = tmp_path_factory.mktemp("node")
    trusting = {"HELIOGRAPH_TRUSTED_PROXIES": "127.0.0.1/32"}
    with scratch_database() as url, running_demo(data, url, settings=trusting) as node:
        page_id = next(iter(node.health()["pages"]))
        port = free_port()
        conf = deployed_conf(data=data, page_id=page_id, node=node.url[7:], port=port)
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
