"""The multi-node deployment README describes, on loopback, for failure tests and
bench/failover: two nodes (each a web server, a worker and a publisher, as the systemd
units run them), one PostgreSQL, and nginx with deploy/nginx.conf in front.

Each node reaches the database through its own TcpProxy, so one node can be cut off (or
black-holed) while the other goes on. A Supervisor stands in for systemd and restarts what
is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from heliograph.lib.supervisor import Child, Supervisor
from tests.support.live import RELAY_DOWN, TcpProxy, free_port, through_proxy
from tests.support.nginx import deployed_conf, running_nginx

NODES = ("a", "b")
ROLES = ("web", "worker", "publisher")
COMMANDS = {"worker": ["worker"], "publisher": ["publish", "--watch"]}


@dataclass
class Cluster:
    root: Path
    database_url: str
    url: str = ""  # nginx
    ports: dict[str, int] = field(default_factory=dict)  # node -> web port
    proxies: dict[str, TcpProxy] = field(default_factory=dict)  # node -> its database path
    supervisor: Supervisor | None = None
    env: dict[str, str] = field(default_factory=dict)

    def node_env(self, node: str) -> dict[str, str]:
        return {
            **self.env,
            "HELIOGRAPH_DATA": str(self.root / node),
            "DATABASE_URL": through_proxy(self.database_url, self.proxies[node]),
        }

    def children(self) -> list[Child]:
        made = []
        for node in NODES:
            for role in ROLES:
                command = COMMANDS.get(role) or [
                    "web",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.ports[node]),
                ]
                argv = [sys.executable, "-m", "heliograph", *command]
                made.append(Child(f"{role}-{node}", argv, env=self.node_env(node)))
        return made

    def pid(self, name: str) -> int:
        assert self.supervisor is not None
        child = next(c for c in self.supervisor.children if c.role == name)
        return child.process.pid if child.process else 0

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "heliograph", *args],
            env=self.node_env("a"),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def node_health(self, node: str) -> dict:
        url = f"http://127.0.0.1:{self.ports[node]}/healthz"
        with urllib.request.urlopen(url, timeout=2) as response:
            return dict(json.loads(response.read()))


@contextlib.contextmanager
def running_cluster(root: Path, database_url: str, settings: dict[str, str]) -> Iterator[Cluster]:
    """The example page on two nodes behind nginx; stopped (everything) on exit."""
    host, port = database_url.rsplit("@", 1)[1].split("/", 1)[0].split(":")
    cluster = Cluster(root, database_url)
    cluster.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    cluster.env.update(HELIOGRAPH_SMTP_URL=RELAY_DOWN)
    cluster.env.update(settings, HELIOGRAPH_POLL_INTERVAL="0.2", SECRET_KEY="cluster-test")
    for node in NODES:
        cluster.ports[node] = free_port()
        cluster.proxies[node] = TcpProxy(host, int(port))
    cluster.url = f"http://127.0.0.1:{free_port()}"
    cluster.env["HELIOGRAPH_BASE_URL"] = cluster.url
    _load_example(cluster)
    supervisor = cluster.supervisor = Supervisor(cluster.children())
    thread = threading.Thread(target=supervisor.run, name="cluster-supervisor", daemon=True)
    thread.start()
    try:
        page_id = _wait_until_serving(cluster)
        nodes = " ".join(f"127.0.0.1:{cluster.ports[n]}" for n in NODES)
        conf = deployed_conf(
            data=root / "a",
            page_id=page_id,
            nodes=nodes.split(),
            port=int(cluster.url.rsplit(":", 1)[1]),
        )
        with running_nginx(root / "nginx", conf, int(cluster.url.rsplit(":", 1)[1])):
            yield cluster
    finally:
        supervisor.stop.set()
        thread.join(30)


def _load_example(cluster: Cluster) -> None:
    load = "from heliograph.example import load_example; load_example()"
    for command in (["migrate", "--no-input"], ["shell", "-c", load]):
        done = cluster.cli(*command)
        assert done.returncode == 0, done.stderr


def _wait_until_serving(cluster: Cluster, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            pages = [cluster.node_health(node)["pages"] for node in NODES]
            if all(pages) and (cluster.root / "a" / "export" / "sites.json").exists():
                return str(next(iter(pages[0])))
        time.sleep(0.2)
    raise RuntimeError("the cluster did not serve within a minute")
