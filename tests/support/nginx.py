"""nginx with the shipped deploy/nginx.conf, placeholders filled in, for tests and benches."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

DEPLOYED = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"

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


def deployed_conf(*, data: Path, page_id: str, nodes: list[str], port: int) -> str:
    """The shipped file with its placeholders filled in, on loopback ports."""
    text = DEPLOYED.read_text()
    text = text.replace("/srv/heliograph/var", str(data)).replace("PAGE_ID", page_id)
    text = text.replace("listen [::]:80;", "").replace("listen 80;", f"listen 127.0.0.1:{port};")
    text = text.replace("server 127.0.0.1:8001 max_fails=2 fail_timeout=5s;", "")
    servers = " ".join(f"server {node} max_fails=2 fail_timeout=5s;" for node in nodes)
    return text.replace("server 127.0.0.1:8000 max_fails=2 fail_timeout=5s;", servers)


@contextlib.contextmanager
def running_nginx(folder: Path, site_conf: str, port: int) -> Iterator[None]:
    folder.mkdir()
    (folder / "heliograph.conf").write_text(site_conf)
    # As root, nginx workers would run as "nobody" and could not read the temp folders.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(MAIN_CONF.format(user=user, folder=folder))
    cmd = [require_nginx(), "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", "stderr"]
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
    except urllib.error.HTTPError:
        return True  # it answers, if only that no node does
    except OSError:
        return False
