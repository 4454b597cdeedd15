"""bench/fanout's receivers: an aiosmtpd server and a minimal HTTP server, each in a
process of its own (so they do not share the sender's GIL), counting distinct
X-Heliograph-Delivery values in shared memory the bench reads."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from typing import Any

DELIVERY = re.compile(rb"^x-heliograph-delivery:[ \t]*(\d+)", re.IGNORECASE | re.MULTILINE)


class Failure(Exception):
    """Something the bench started did not work; the figures would mean nothing."""


@dataclass
class Tally:
    """Written by one receiver process, read by the bench: distinct deliveries seen."""

    count: Synchronized[int]
    repeats: Synchronized[int]
    last: Synchronized[float]  # time.monotonic() of the latest new delivery (system-wide)
    port: int

    @classmethod
    def new(cls, context: Any) -> Tally:
        return cls(
            context.RawValue("q", 0),
            context.RawValue("q", 0),
            context.RawValue("d", 0.0),
            free_port(),
        )

    def note(self, seen: set[int], delivery: int | None) -> None:
        if delivery is None or delivery in seen:
            self.repeats.value += 1
            return
        seen.add(delivery)
        self.last.value = time.monotonic()
        self.count.value += 1


def serve_smtp(tally: Tally) -> None:
    """An aiosmtpd server that accepts everything and notes each message's delivery id."""
    from aiosmtpd.smtp import SMTP

    seen: set[int] = set()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            content: bytes = envelope.content
            match = DELIVERY.search(content, 0, content.find(b"\r\n\r\n"))
            tally.note(seen, int(match.group(1)) if match else None)
            return "250 OK"

    handler = Handler()
    serve_forever(lambda: SMTP(handler, hostname="bench.invalid"), tally.port)


class HookReceiver(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server: every request gets an empty 200."""

    OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

    def __init__(self, tally: Tally, seen: set[int]) -> None:
        self.tally, self.seen, self.buffer = tally, seen, b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end]
            length = re.search(rb"^content-length:[ \t]*(\d+)", head, re.I | re.M)
            total = end + 4 + (int(length.group(1)) if length else 0)
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            match = DELIVERY.search(head)
            self.tally.note(self.seen, int(match.group(1)) if match else None)
            assert self.transport is not None
            self.transport.write(self.OK)


def serve_http(tally: Tally) -> None:
    seen: set[int] = set()
    serve_forever(lambda: HookReceiver(tally, seen), tally.port)


def serve_forever(factory: Callable[[], asyncio.BaseProtocol], port: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench stops us with SIGTERM
    loop = asyncio.new_event_loop()
    loop.run_until_complete(loop.create_server(factory, "127.0.0.1", port, backlog=1024))
    parent = os.getppid()

    def orphaned() -> None:  # the bench was killed: do not serve on forever
        if os.getppid() != parent:
            loop.stop()
        else:
            loop.call_later(1, orphaned)

    orphaned()
    loop.run_forever()


@contextlib.contextmanager
def receivers() -> Iterator[dict[str, tuple[Tally, int]]]:
    """Both receivers, forked before Django is set up; yields {name: (tally, pid)}."""
    context = multiprocessing.get_context("fork")
    found: dict[str, tuple[Tally, int]] = {}
    processes = []
    for name, target in (("smtp", serve_smtp), ("http", serve_http)):
        tally = Tally.new(context)
        process = context.Process(target=target, args=(tally,), daemon=True, name=name)
        process.start()
        processes.append(process)
        wait_for_port(tally.port, name, process.is_alive)
        found[name] = (tally, int(process.pid or 0))
    try:
        yield found
    finally:
        for process in processes:
            process.terminate()
            process.join(5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, name: str, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and alive():
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise Failure(f"the {name} receiver did not start")
