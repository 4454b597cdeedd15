"""A failure drill on a running cluster: readers, a writer and webhook receivers at work
while processes are killed and a node is cut off from the database. tests/test_failover.py
asserts on its figures; bench/failover prints them."""

from __future__ import annotations

import json
import os
import signal
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.cluster import NODES, ROLES, Cluster
from tests.support.live import TcpProxy

READ_PATHS = ("/", "/api/v2/summary.json", "/api/v2/incidents.json", "/history")
HOOKS = 3


@dataclass
class Figures:
    reads: int = 0
    read_failures: list[str] = field(default_factory=list)
    read_seconds: list[float] = field(default_factory=list)
    writes: int = 0
    write_refusals: int = 0  # 503s a client retried: refused whole, never half-written
    visible_after: list[float] = field(default_factory=list)  # acknowledged → on the page
    unseen: list[int] = field(default_factory=list)
    back_after: dict[str, float] = field(default_factory=dict)  # killed → running again
    expected_deliveries: int = 0
    missing_deliveries: int = 0
    repeated_deliveries: int = 0

    def summary(self) -> dict[str, object]:
        reads = sorted(self.read_seconds) or [0.0]
        return {
            "public reads": self.reads,
            "read failures": len(self.read_failures),
            "read p50 ms": round(statistics.median(reads) * 1000, 1),
            "read p99 ms": round(reads[int(len(reads) * 0.99)] * 1000, 1),
            "read max ms": round(reads[-1] * 1000, 1),
            "writes acknowledged": self.writes,
            "writes refused then retried": self.write_refusals,
            "worst write → page s": round(max(self.visible_after, default=0.0), 2),
            "writes never seen": len(self.unseen),
            "worst restart s": round(max(self.back_after.values(), default=0.0), 2),
            "deliveries expected": self.expected_deliveries,
            "deliveries missing": self.missing_deliveries,
            "deliveries repeated": self.repeated_deliveries,
        }


def request(
    url: str,
    method: str = "GET",
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return 0, str(error).encode()


class Receivers:
    """Webhook endpoints that always answer 200 and count what arrives, by update text."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                updates = json.loads(body).get("incident", {}).get("incident_updates") or [{}]
                receivers.seen[(self.path, str(updates[0].get("body", "")))] += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Drill:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.figures = Figures()
        self.stop = threading.Event()
        self.acked: dict[int, float] = {}
        self.receivers = Receivers()
        key = cluster.cli("apikey", "create", "drill").stdout.split()[-1]
        self.auth = {"Authorization": f"OAuth {key}"}
        self.v1 = f"{cluster.url}/v1/pages/{self.page_id()}"
        for n in range(HOOKS):
            fields = {
                "subscriber[endpoint]": f"{self.receivers.url}/hook/{n}",
                "subscriber[email]": f"hook{n}@example.org",
            }
            assert self.write("POST", "/subscribers", fields)[0] == 201
        status, body = self.write(
            "POST",
            "/incidents",
            {
                "incident[name]": "Failover drill",
                "incident[status]": "investigating",
                "incident[body]": "update 0",
            },
        )
        assert status == 201, body
        self.incident = json.loads(body)["id"]

    def page_id(self) -> str:
        status, body = request(f"{self.cluster.url}/v1/pages", headers=self.auth)
        assert status == 200, body
        return str(json.loads(body)[0]["id"])

    def write(self, method: str, path: str, data: dict[str, str]) -> tuple[int, bytes]:
        """A client that retries what was refused whole (503) or never reached a node."""
        deadline = time.monotonic() + 30
        while True:
            status, body = request(self.v1 + path, method, data, self.auth)
            if status not in (0, 502, 503) or time.monotonic() > deadline:
                return status, body
            self.figures.write_refusals += 1
            time.sleep(0.2)

    @contextmanager
    def running(self) -> Iterator[None]:
        threads = [
            threading.Thread(target=t, daemon=True)
            for t in (self._read, self._read, self._write_updates, self._watch_page)
        ]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            time.sleep(3)  # the last writes reach the page
            self.stop.set()
            for thread in threads:
                thread.join(30)

    def _read(self) -> None:
        while not self.stop.is_set():
            for path in READ_PATHS:
                began = time.monotonic()
                status, _ = request(self.cluster.url + path, timeout=5)
                self.figures.reads += 1
                self.figures.read_seconds.append(time.monotonic() - began)
                if status != 200:
                    self.figures.read_failures.append(f"{path}: {status}")

    def _write_updates(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            fields = {"incident[body]": f"update {n}", "incident[status]": "identified"}
            status, body = self.write("PATCH", f"/incidents/{self.incident}", fields)
            if status == 200:
                self.acked[n] = time.monotonic()
                self.figures.writes += 1
            time.sleep(0.3)

    def _watch_page(self) -> None:
        seen: set[int] = set()
        url = f"{self.cluster.url}/api/v2/incidents/{self.incident}.json"
        while not self.stop.is_set() or len(seen) < len(self.acked):
            status, body = request(url, timeout=5)
            now = time.monotonic()
            text = body.decode(errors="replace") if status == 200 else ""
            for n, at in list(self.acked.items()):
                if n not in seen and f'"update {n}"' in text:
                    seen.add(n)
                    self.figures.visible_after.append(now - at)
            if self.stop.is_set() and now - max(self.acked.values(), default=now) > 10:
                break
            time.sleep(0.05)
        self.figures.unseen = sorted(set(self.acked) - seen)

    def kill_each(self, pause: float) -> None:
        """SIGKILL every process of every node in turn; time until each runs again."""
        for node in NODES:
            for role in ROLES:
                name = f"{role}-{node}"
                before = self.cluster.pid(name)
                os.kill(before, signal.SIGKILL)
                began = time.monotonic()
                while self.cluster.pid(name) in (0, before) and time.monotonic() - began < 30:
                    time.sleep(0.02)
                self.figures.back_after[name] = time.monotonic() - began
                time.sleep(pause)

    def cut_off(self, node: str, seconds: float) -> None:
        proxy = self.cluster.proxies[node]
        proxy.hang()
        time.sleep(seconds)
        proxy.restore()

    def count_deliveries(self, wait: float) -> None:
        """Every acknowledged update reached every webhook (waiting for stragglers)."""
        wanted = {(f"/hook/{i}", f"update {n}") for n in self.acked for i in range(HOOKS)}
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not wanted <= set(self.receivers.seen):
            time.sleep(0.5)
        got = self.receivers.seen
        self.figures.expected_deliveries = len(wanted)
        self.figures.missing_deliveries = len(wanted - set(got))
        self.figures.repeated_deliveries = sum(got[k] - 1 for k in wanted if got[k] > 1)


def run_drill(cluster: Cluster, *, pause: float, cut_seconds: float) -> Figures:
    drill = Drill(cluster)
    with drill.running():
        time.sleep(pause)
        drill.kill_each(pause)
        drill.cut_off("a", cut_seconds)
        time.sleep(pause)
    drill.count_deliveries(wait=60)
    return drill.figures


@dataclass
class HangFigures:
    """One node, its database black-holed while requests that need it pile up."""

    reads: int = 0
    read_failures: int = 0
    read_seconds: list[float] = field(default_factory=list)
    health_seconds: list[float] = field(default_factory=list)
    noticed_after: float = 0.0  # hang → /healthz says unreachable
    refused: Counter[int] = field(default_factory=Counter)  # status of each hung request
    refused_seconds: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        reads = sorted(self.read_seconds) or [0.0]
        return {
            "public reads": self.reads,
            "read failures": self.read_failures,
            "read p99 ms": round(reads[int(len(reads) * 0.99)] * 1000, 1),
            "read max ms": round(reads[-1] * 1000, 1),
            "healthz max ms": round(max(self.health_seconds, default=0) * 1000, 1),
            "unreachable reported after s": round(self.noticed_after, 2),
            "database requests answered": dict(self.refused),
            "slowest database request s": round(max(self.refused_seconds, default=0), 2),
        }


def hang_drill(url: str, proxy: TcpProxy, key: str, seconds: float, hung: int) -> HangFigures:
    """Black-hole the database for ``seconds`` with ``hung`` database requests in flight
    (refilled as they end), reading every public path meanwhile."""
    figures, stop = HangFigures(), threading.Event()
    auth = {"Authorization": f"OAuth {key}"}
    calls = [
        lambda: request(url + "/v1/pages", headers=auth, timeout=60),
        lambda: request(
            url + "/api/v2/subscribers.json",
            "POST",
            {"subscriber[email]": "reader@example.org"},
            timeout=60,
        ),
    ]

    def keep_hanging(i: int) -> None:
        while not stop.is_set():
            began = time.monotonic()
            status, _ = calls[i % len(calls)]()
            figures.refused[status] += 1
            figures.refused_seconds.append(time.monotonic() - began)
            stop.wait(1.0)  # a client told to come back later (Retry-After: 30) is not faster

    def read() -> None:
        while not stop.is_set():
            for path in (*READ_PATHS, "/healthz"):
                began = time.monotonic()
                status, body = request(url + path, timeout=5)
                spent = time.monotonic() - began
                figures.reads += 1
                figures.read_failures += status != 200
                (figures.health_seconds if path == "/healthz" else figures.read_seconds).append(
                    spent
                )
                if path == "/healthz" and not figures.noticed_after and b'"unreachable"' in body:
                    figures.noticed_after = time.monotonic() - hung_at

    proxy.hang()
    hung_at = time.monotonic()
    threads = [threading.Thread(target=keep_hanging, args=(i,), daemon=True) for i in range(hung)]
    threads += [threading.Thread(target=read, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    proxy.restore()
    for thread in threads:
        thread.join(90)
    return figures
