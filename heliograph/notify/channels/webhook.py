"""Webhooks: the Statuspage-shaped JSON, signed, POSTed concurrently.

A 2xx answer within 30 s is success; anything else (3xx included: redirects are not
followed, as on Statuspage) is a failure that the outbox retries and counts towards
quarantine.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import ssl
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, unquote, urlsplit

import httpx

from heliograph.lib import netguard, networks
from heliograph.notify import payloads, rules
from heliograph.notify.channels import Job, Pending, Source, run_jobs, within_deadline
from heliograph.notify.models import Delivery

TIMEOUT = 30.0
CONCURRENCY = 100
USER_AGENT = "Heliograph-Webhooks/1"
SIGNATURE_HEADER = "X-Heliograph-Signature"
DELIVERY_HEADER = "X-Heliograph-Delivery"
MAX_BODY = 64 * 1024  # a longer answer is not read: the connection is closed instead
_SAFE = "!#$%&'()*+,/:;=?@[]~"  # kept as they are in the request target

Result = str | None  # None = delivered; else why not


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


def build_request(delivery: Delivery) -> Request:
    subscriber = delivery.subscriber
    document = payloads.webhook_body(delivery.notification.payload, subscriber.unsubscribe_token)
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return Request(
        url=subscriber.endpoint,
        body=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: rules.sign(subscriber.signing_secret, body),
            DELIVERY_HEADER: str(delivery.pk),
        },
    )


async def post_from(
    source: Source[Request],
    concurrency: int = CONCURRENCY,
    timeout: float = TIMEOUT,
    allowed: list[networks.Network] | None = None,
) -> None:
    """POST what ``source`` gives until it has no more.

    ``concurrency`` lanes take requests from it; each keeps its connection open for its
    next request to the same address. Each host is resolved and checked once.
    """
    resolver = netguard.Resolver(netguard.allowed_networks() if allowed is None else allowed)
    async with asyncio.TaskGroup() as group:  # a failing one stops the others
        for _ in range(concurrency):
            group.create_task(_Lane(resolver, timeout).drain(source))


class BadResponse(Exception):
    """The answer was not HTTP/1.x."""


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    reusable: bool  # the body was read and the server keeps the connection open


class _Lane:
    """One connection at a time, reused while requests go to the same address."""

    def __init__(self, resolver: netguard.Resolver, timeout: float) -> None:
        self.resolver, self.timeout = resolver, timeout
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.address: tuple[str, str, int, str] | None = None  # scheme, ip, port, SNI name

    async def drain(self, source: Source[Request]) -> None:
        try:
            await run_jobs(source, self.attempt)
        finally:
            self.close()

    async def attempt(self, job: Job[Request], ready: Pending | None) -> tuple[Result, bool]:
        return await within_deadline(job, self.post_when(ready, job.message), self.close)

    async def post_when(self, ready: Pending | None, request: Request) -> Result:
        if ready is not None:
            await ready  # a request is all content: none of it goes before
        return await self.post(request)

    async def post(self, request: Request) -> Result:
        try:
            target = await self.resolver.resolve(request.url)
            # The whole exchange must fit in the timeout, not each phase of it.
            answer = await asyncio.wait_for(self.exchange(target, request), self.timeout)
        except netguard.Refused as exc:
            return f"refused: {exc}"
        except TimeoutError:
            self.close()
            return f"no answer within {self.timeout:g} s"
        except (OSError, EOFError, ssl.SSLError, BadResponse, asyncio.LimitOverrunError) as exc:
            self.close()
            return f"{type(exc).__name__}: {exc}"
        if not answer.reusable:
            self.close()
        if 200 <= answer.status < 300:
            return None
        return f"HTTP {answer.status} {answer.reason}".strip()

    async def exchange(self, target: netguard.Target, request: Request) -> _Answer:
        parts = urlsplit(target.url)
        address = (parts.scheme, parts.hostname or "", parts.port or 0, target.server_name)
        message = _head(request, parts, target.host_header) + request.body
        if self.streams is not None and self.address == address and not self.streams[0].at_eof():
            try:  # a kept connection the server may have closed meanwhile: retry once
                return await self.send(message)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                if getattr(exc, "partial", b""):
                    raise
        self.close()
        self.streams = await asyncio.open_connection(
            address[1],
            address[2] or (443 if address[0] == "https" else 80),
            ssl=_tls() if address[0] == "https" else None,
            server_hostname=address[3] if address[0] == "https" else None,
        )
        self.address = address
        return await self.send(message)

    async def send(self, message: bytes) -> _Answer:
        assert self.streams is not None
        reader, writer = self.streams
        writer.write(message)
        await writer.drain()
        return await _read_answer(reader)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
        self.streams = self.address = None


def _head(request: Request, parts: SplitResult, host: str) -> bytes:
    """Request line and headers; the host is the URL's, the connection the checked address."""
    target = quote(parts.path or "/", safe=_SAFE)  # no space or control character is left
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE)
    try:
        host = host.encode("idna").decode()
    except UnicodeError:
        raise netguard.Refused(f"{host!r} is not a valid host name") from None
    if any(c in host for c in " \r\n\0"):
        raise netguard.Refused(f"{host!r} is not a valid host name")
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", "Accept: */*"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines.append(f"Content-Length: {len(request.body)}")
    if parts.username is not None:  # as httpx did: userinfo in the URL becomes Basic auth
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        lines.append(f"Authorization: Basic {base64.b64encode(pair).decode()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_answer(reader: asyncio.StreamReader) -> _Answer:
    """Status and reason of the final response; its body is read when it is short."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        first, *fields = head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = first.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit() or len(code) != 3:
            raise BadResponse(f"not an HTTP/1.x status line: {first[:80]!r}")
        if not 100 <= int(code) < 200:
            break  # 1xx answers are interim: the real one follows
    headers = dict(_field(line) for line in fields)
    status = int(code)
    length = 0 if status in (204, 304) else headers.get("content-length", "")
    kept = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
    if "transfer-encoding" in headers or not str(length).isdigit() or int(length) > MAX_BODY:
        return _Answer(status, reason.strip(), reusable=False)  # not read: close instead
    await reader.readexactly(int(length))
    return _Answer(status, reason.strip(), reusable=kept)


def _field(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()


@functools.cache
def _tls() -> ssl.SSLContext:
    """Certificate checks as httpx makes them (its CA bundle); HTTP/1.1 only."""
    context = httpx.create_ssl_context(trust_env=False)
    context.set_alpn_protocols(["http/1.1"])
    return context
