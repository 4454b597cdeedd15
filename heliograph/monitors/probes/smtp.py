"""``smtp``: connect, read the banner, EHLO, STARTTLS (and EHLO again), QUIT.

Config: ``host`` (required), ``port`` (25; 465 is usual with ``tls``), ``tls`` (false:
TLS from the first byte when true), ``starttls`` ("if-offered", "require" or "no"),
``ehlo_name`` (the prober's host name), ``expect_banner`` (a substring of the greeting),
``server_name`` (the name the certificate must carry; default ``host``), ``verify_tls``
(true), ``ca_pem`` (certificates to trust instead of the system store), ``slow_ms``
(5000, on the whole conversation up to QUIT).

Values: ``connect_ms`` (TCP, plus the TLS handshake with ``tls``), ``banner_ms``,
``ehlo_ms``, ``starttls_ms`` (STARTTLS, handshake and the second EHLO; only when done),
``latency_ms`` (all of them).
Verdicts: ``fail`` when the connection fails, no banner comes, the banner or EHLO is a
4xx/5xx, the banner lacks ``expect_banner``, STARTTLS is required but not offered or
fails (certificate included), or any step has no answer within the timeout; ``slow``
above ``slow_ms``; else ``ok``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from heliograph.monitors.probes import common
from heliograph.monitors.probes.base import FAIL, OK, SLOW, ProbeSpec, Result

KIND = "smtp"
SECRET_FIELDS: tuple[str, ...] = ()
STARTTLS = ("if-offered", "require", "no")
DEFAULT_SLOW_MS = 5000.0
KEYS = (
    "host", "port", "tls", "starttls", "ehlo_name", "expect_banner", "server_name",
    "verify_tls", "ca_pem", "slow_ms",
)  # fmt: skip
MAX_LINES = 100  # lines in one reply


class Refusal(Exception):
    """The server said no (a 4xx/5xx reply), or something else ended the conversation."""


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    common.only(config, KEYS)
    tls = common.flag(config, "tls", False)
    checked = {
        "host": common.host(config),
        "port": common.port(config, default=25),
        "tls": tls,
        "starttls": "no" if tls else common.choice(config, "starttls", "if-offered", STARTTLS),
        "ehlo_name": common.host(config, "ehlo_name") if config.get("ehlo_name") else None,
        "expect_banner": common.optional_text(config, "expect_banner"),
        "server_name": common.optional_text(config, "server_name"),
        "verify_tls": common.flag(config, "verify_tls", True),
        "ca_pem": common.ca_pem(config),
        "slow_ms": common.positive(config, "slow_ms", DEFAULT_SLOW_MS),
    }
    if checked["server_name"]:
        checked["server_name"] = common.host(config, "server_name")
    return checked


@dataclass
class Session:
    """The conversation so far: what it is waiting for, and the phase timings."""

    waiting_for: str = "the connection"
    values: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def step(self, name: str | None, waiting_for: str, command: str | None) -> list[str]:
        """Send ``command`` (if any), read the reply, time it as ``name`` (if any)."""
        assert self.reader is not None and self.writer is not None
        self.waiting_for = waiting_for
        start = time.perf_counter()
        if command is not None:
            self.writer.write(command.encode("ascii") + b"\r\n")
            await self.writer.drain()
        lines = await read_reply(self.reader)
        if name is not None:
            self.values[name] = common.elapsed_ms(start)
        return lines


async def read_reply(reader: asyncio.StreamReader) -> list[str]:
    """The lines of one reply ("250-a", "250 b"); Refusal when the server hangs up."""
    lines: list[str] = []
    while len(lines) < MAX_LINES:
        try:
            raw = await reader.readline()
        except ValueError:  # a line longer than the stream's limit (64 KiB)
            raise Refusal("the server sent an endless line") from None
        if not raw:
            raise Refusal("the server closed the connection")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise Refusal(f"the server sent something that is not SMTP: {line[:80]!r}")
        lines.append(line)
        if len(line) == 3 or line[3] != "-":
            return lines
    raise Refusal("the server sent an endless reply")


def code(lines: list[str]) -> int:
    return int(lines[-1][:3])


def text(lines: list[str]) -> str:
    return " ".join(line[4:] for line in lines).strip()


async def probe(spec: ProbeSpec) -> Result:
    session = Session()

    def timed_out() -> Result:
        result = common.no_answer(spec.timeout, f"waiting for {session.waiting_for}")
        return Result(FAIL, result.reason, session.values, session.details)

    try:
        return await common.run(spec, check_config, lambda c, s: _check(c, s, session), timed_out)
    finally:
        if session.writer is not None:
            session.writer.close()


async def _check(config: dict[str, Any], spec: ProbeSpec, session: Session) -> Result:
    where = f"{config['host']}:{config['port']}"
    address = await common.pin_host(config["host"], config["port"], spec.allowed)
    session.details["address"] = address
    try:
        await _converse(config, session, address)
    except Refusal as exc:
        return Result(FAIL, f"{where}: {exc}", session.values, session.details)
    except (OSError, ssl.SSLError, UnicodeError) as exc:
        reason = f"{where}: {common.describe(exc)} (waiting for {session.waiting_for})"
        return Result(FAIL, reason, session.values, session.details)
    values = session.values
    values["latency_ms"] = round(sum(values.values()), 1)
    tls = " over TLS" if "tls_version" in session.details else ""
    took = common.compared(values["latency_ms"], config["slow_ms"])
    said = f"{where} greeted, answered EHLO{tls} in {took} ms"
    if values["latency_ms"] > config["slow_ms"]:
        return Result(
            SLOW, f"{said} (slow above {config['slow_ms']:g} ms)", values, session.details
        )
    return Result(OK, said, values, session.details)


async def _converse(config: dict[str, Any], session: Session, address: str) -> None:
    name = config["server_name"] or config["host"]
    context = common.tls_context(config["verify_tls"], config["ca_pem"])
    start = time.perf_counter()
    session.reader, session.writer = await asyncio.open_connection(
        address,
        config["port"],
        ssl=context if config["tls"] else None,
        server_hostname=name if config["tls"] else None,
    )
    session.values["connect_ms"] = common.elapsed_ms(start)
    if config["tls"]:
        _note_tls(session)
    banner = await session.step("banner_ms", "the banner", None)
    session.details["banner"] = text(banner) or banner[-1]
    if code(banner) != 220:
        raise Refusal(f"the server greeted with {' / '.join(banner)}")
    expected = config["expect_banner"]
    if expected and expected not in " ".join(banner):
        raise Refusal(f"the banner {banner[0]!r} does not contain {expected!r}")
    ehlo = config["ehlo_name"] or socket.gethostname() or "localhost"
    extensions = await _ehlo(session, "ehlo_ms", ehlo)
    session.details["extensions"] = extensions
    offered = "STARTTLS" in extensions
    if config["starttls"] == "require" and not offered:
        raise Refusal("STARTTLS is required but the server does not offer it")
    if offered and config["starttls"] != "no":
        await _starttls(session, context, name, ehlo)
    await _quit(session)


async def _ehlo(session: Session, name: str | None, ehlo: str) -> list[str]:
    reply = await session.step(name, "the EHLO reply", f"EHLO {ehlo}")
    if code(reply) != 250:
        raise Refusal(f"EHLO was refused: {' / '.join(reply)}")
    return [line[4:].split(" ")[0].upper() for line in reply[1:]]


async def _starttls(session: Session, context: ssl.SSLContext, name: str, ehlo: str) -> None:
    assert session.writer is not None
    start = time.perf_counter()
    reply = await session.step(None, "the STARTTLS reply", "STARTTLS")
    if code(reply) != 220:
        raise Refusal(f"STARTTLS was refused: {' / '.join(reply)}")
    session.waiting_for = "the TLS handshake"
    try:
        await session.writer.start_tls(context, server_hostname=name)
    except (OSError, ssl.SSLError) as exc:
        raise Refusal(f"STARTTLS failed: {common.describe(exc)}") from None
    _note_tls(session)
    await _ehlo(session, None, ehlo)
    session.values["starttls_ms"] = common.elapsed_ms(start)


def _note_tls(session: Session) -> None:
    assert session.writer is not None
    tls = session.writer.get_extra_info("ssl_object")
    if tls is not None:
        session.details["tls_version"] = tls.version()


async def _quit(session: Session) -> None:
    """Say goodbye politely; the answer to QUIT does not count."""
    assert session.writer is not None and session.reader is not None
    with contextlib.suppress(OSError, Refusal, asyncio.TimeoutError, ssl.SSLError):
        session.writer.write(b"QUIT\r\n")
        await session.writer.drain()
        async with asyncio.timeout(1.0):
            await read_reply(session.reader)
