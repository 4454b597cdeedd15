"""Real servers on 127.0.0.1 for the probe tests, and certificates made with openssl.

Every server binds port 0 (no race for a free port), runs in its own thread and stops
when its ``with`` block ends; handlers that wait (a server that never greets, a slow
page) wait on the server's stop event, so nothing outlives the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
from aiosmtpd.smtp import SMTP

from heliograph.monitors.probes.base import ProbeSpec, Result

LOOPBACK = (ip_network("127.0.0.0/8"),)


def run(
    module: ModuleType,
    config: Mapping[str, Any],
    *,
    timeout: float = 3.0,
    secrets: Mapping[str, str] | None = None,
    allowed: tuple[Any, ...] = LOOPBACK,
) -> Result:
    spec = ProbeSpec(config=config, secrets=secrets or {}, timeout=timeout, allowed=allowed)
    result: Result = asyncio.run(module.probe(spec))
    return result


# --- certificates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    """A test CA and leaf certificates for 127.0.0.1 / localhost, by name."""

    directory: Path
    ca_pem: str

    def context(self, name: str) -> ssl.SSLContext:
        """A server-side context presenting the named certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.directory / f"{name}.pem", self.directory / f"{name}.key")
        return context


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)


def make_certs(directory: Path) -> Certs:
    """``valid`` (30 days), ``soon`` (3 days), ``expired`` (yesterday) signed by the CA;
    ``selfsigned`` (30 days) signed by nobody the probe trusts."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        ca_key,
        "-out",
        ca,
        "-days",
        "365",
        "-subj",
        "/CN=Heliograph Test CA",
    )
    extensions = directory / "leaf.cnf"
    extensions.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n"
    )
    for name, days in (("valid", "30"), ("soon", "3"), ("expired", "-1")):
        key, csr = directory / f"{name}.key", directory / f"{name}.csr"
        _openssl("req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={name}.localhost")
        _openssl(
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-days",
            days,
            "-set_serial",
            f"0x{secrets.token_hex(8)}",
            "-extfile",
            extensions,
            "-out",
            directory / f"{name}.pem",
        )
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        directory / "selfsigned.key",
        "-out",
        directory / "selfsigned.pem",
        "-days",
        "30",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
    )
    return Certs(directory, ca.read_text())


# --- raw TCP ----------------------------------------------------------------------------------

Handler = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def tcp_server(handle: Handler) -> Iterator[int]:
    """Accepts connections and gives each to ``handle(conn, stop)`` in its own thread."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    workers: list[threading.Thread] = []

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            handle(conn, stop)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            worker = threading.Thread(target=serve, args=(conn,), daemon=True)
            workers.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
        for worker in workers:
            worker.join(5)


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accepts and never says a word (until the server stops)."""
    stop.wait(10)


def says(*lines: str) -> Handler:
    """Sends these lines, then waits for the client to hang up."""

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall("".join(f"{line}\r\n" for line in lines).encode())
        _drain(conn, stop)

    return handle


def _drain(conn: socket.socket, stop: threading.Event) -> None:
    conn.settimeout(0.05)
    while not stop.is_set():
        try:
            if not conn.recv(4096):
                return
        except TimeoutError:
            continue


def tls_handler(context: ssl.SSLContext) -> Handler:
    """Completes a TLS handshake (if the client agrees), then waits for the hang-up."""

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            _drain(tls, stop)

    return handle


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused, with no race."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# --- HTTP -------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""  # anything else is sent as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Route = Reply | Callable[[Seen], Reply]


@dataclass
class HttpServer:
    port: int
    scheme: str
    seen: list[Seen]

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"


@contextlib.contextmanager
def http_server(
    routes: Mapping[str, Route], tls: ssl.SSLContext | None = None
) -> Iterator[HttpServer]:
    """Answers each path from ``routes`` (404 otherwise) and records every request."""
    stop = threading.Event()
    seen: list[Seen] = []

    class Handle(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Seen(
                self.command,
                parts.path,
                parse_qs(parts.query),
                dict(self.headers.items()),
                self.rfile.read(length),
            )
            seen.append(request)
            route = routes.get(parts.path, Reply(404, b"not here"))
            reply = route(request) if callable(route) else route
            if reply.delay and stop.wait(reply.delay):
                return
            body = reply.body
            if not isinstance(body, bytes | str):
                body = json.dumps(body)
            data = body.encode() if isinstance(body, str) else body
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_HEAD = do_PUT = answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield HttpServer(server.server_address[1], "https" if tls else "http", seen)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def rspamd_history(scans: Callable[[], list[tuple[float, str]]]) -> Route:
    """An rspamd controller's ``/history`` (version 2, newest first) listing ``scans``
    ((unix time, Message-ID) pairs, e.g. ``mail_path``'s ``relay.scans``) as it asks."""

    def answer(request: Seen) -> Reply:
        rows = [
            {"message-id": mid, "unix_time": at, "time_real": 0.012, "action": "no action"}
            for at, mid in sorted(scans(), reverse=True)
        ]
        return Reply(200, {"version": 2, "rows": rows})

    return answer


# --- DNS --------------------------------------------------------------------------------------

DROP, SERVFAIL, REFUSED = "drop", "servfail", "refused"


@dataclass
class DnsServer:
    port: int
    queries: list[tuple[str, str]]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def dns_answer(
    wire: bytes, zone: Mapping[tuple[str, str], list[str]], special: Mapping[str, str]
) -> bytes | None:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    question = query.question[0]
    name = question.name.to_text().rstrip(".").lower()
    rdtype = dns.rdatatype.to_text(question.rdtype)
    behaviour = special.get(name)
    if behaviour == DROP:
        return None
    if behaviour in (SERVFAIL, REFUSED):
        response.set_rcode(dns.rcode.from_text(behaviour.upper()))
    elif (name, rdtype) in zone:
        rrset = dns.rrset.from_text(question.name, 60, "IN", rdtype, *zone[(name, rdtype)])
        response.answer.append(rrset)
    elif not any(known == name for known, _ in zone):
        response.set_rcode(dns.rcode.NXDOMAIN)
    wire_out: bytes = response.to_wire()
    return wire_out


@contextlib.contextmanager
def dns_server(
    zone: Mapping[tuple[str, str], list[str]], special: Mapping[str, str] | None = None
) -> Iterator[DnsServer]:
    """A UDP nameserver: ``zone`` maps (name, type) to record texts; ``special`` maps a
    name to "drop" (never answer), "servfail" or "refused"; other names are NXDOMAIN."""
    stop = threading.Event()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    server = DnsServer(sock.getsockname()[1], [])

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, client = sock.recvfrom(4096)
            except TimeoutError:
                continue
            message = dns.message.from_wire(wire)
            question = message.question[0]
            server.queries.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype)))
            reply = dns_answer(wire, zone, special or {})
            if reply is not None:
                sock.sendto(reply, client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        sock.close()


# --- SMTP -------------------------------------------------------------------------------------


class Accepting:
    """An aiosmtpd handler that takes whatever it is given."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@contextlib.contextmanager
def smtp_server(
    *, starttls: ssl.SSLContext | None = None, implicit: ssl.SSLContext | None = None
) -> Iterator[int]:
    """aiosmtpd on its own loop: STARTTLS offered with ``starttls``; TLS from the first
    byte with ``implicit``."""
    loop = asyncio.new_event_loop()

    def factory() -> SMTP:
        return SMTP(
            Accepting(),
            hostname="mx.test",
            ident="Heliograph test MTA",
            tls_context=starttls,
            loop=loop,
        )

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0, ssl=implicit))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(server.wait_closed())
        loop.close()
