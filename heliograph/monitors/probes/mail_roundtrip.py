"""``mail_roundtrip``: send a tagged canary through an MX, wait for it in an IMAP mailbox.

This is the probe that would have caught the July 2021 Cluster A incident (a filter loop
delaying inbound mail) before customers did (architecture: Monitors). One run:

1. Log in to IMAP. If that fails (login refused, server unreachable or not resolving,
   password missing) the verdict is ``unknown``: the prober's own fault, which alerts
   operators but never changes public status. No canary is sent, so none is left behind.
2. Send one message through ``smtp_host:smtp_port`` carrying a fresh token
   ``hgp-<unix time>-<16 hex>`` in an ``X-Heliograph-Probe`` header and in the Subject.
   A refused message or an unreachable/failing MX is ``fail`` (a refused SMTP *login*,
   535, is the probe's credentials: ``unknown``).
3. Poll the inbox and the Junk folder(s) every ``poll_seconds``: NOOP, then UID SEARCH by
   header or subject. Delivery time is send → first seen. After the first copy, look
   ``duplicate_wait_seconds`` longer for duplicates.
4. Delete the copies found and sweep canaries older than ``sweep_after_seconds`` (left by
   runs that gave up; younger ones may belong to a run still waiting).

Verdict (the worst that applies)::

    delivered in ≤ ok_seconds                        ok
    delivered between ok_seconds and slow_seconds    hold
    delivered in ≥ slow_seconds                      slow
    any copy in a Junk folder                        slow  "delivered to Junk"
    more than one copy                               slow  "3 copies arrived (a mail loop?)"
    Received hops > healthy_hops + hop_margin        slow  (only when healthy_hops is set)
    not seen when the wait ends, after waiting:
        give_up_seconds                              fail  "not delivered within 600 s"
        ≥ slow_seconds (the monitor's timeout)       slow  "... (still in flight)"
        ≥ ok_seconds                                 hold
        less than ok_seconds                         unknown (timeout too short to judge)

How long a run waits: until ``give_up_seconds`` after sending, but never past the
monitor's own timeout (``spec.timeout``, less a reserve of 10 % — at most 5 s — for
cleanup). So the monitor's timeout picks the behaviour during an outage: a timeout a
little above ``slow_seconds`` (e.g. 140 s) reports a canary still in flight as ``slow``
soon, and hysteresis turns two of those into degraded performance; a timeout above
``give_up_seconds`` (e.g. 620 s) waits for the full answer and reports ``fail``. Either
way a canary still in flight past the slow threshold already counts as slow (§9).

Values: ``smtp_ms`` (connect until the message is accepted) and, when delivered,
``delivery_seconds``, ``hops`` (most ``Received:`` headers on any copy), ``copies``; when
not, ``copies`` = 0 and ``waited_seconds``. Details: token, message_id, folder(s),
trimmed Received lines, cleanup counts. Passwords come from ``spec.secrets`` and never
appear in either (``common.run`` scrubs them as well).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import format_datetime
from secrets import token_hex
from typing import Any

import aiosmtplib

from heliograph.monitors.probes import common, imap
from heliograph.monitors.probes.base import (
    FAIL,
    HOLD,
    OK,
    SLOW,
    UNKNOWN,
    ConfigError,
    ProbeSpec,
    Result,
)

KIND = "mail_roundtrip"
SECRET_FIELDS = ("smtp_password", "imap_password")
STARTTLS = ("if-offered", "require", "no")
KEYS = (
    "smtp_host", "smtp_port", "smtp_tls", "smtp_starttls", "smtp_username", "mail_from",
    "mail_to", "imap_host", "imap_port", "imap_tls", "imap_starttls", "imap_username",
    "verify_tls", "ca_pem", "inbox_folder", "junk_folders", "ok_seconds", "slow_seconds",
    "give_up_seconds", "healthy_hops", "hop_margin", "poll_seconds",
    "duplicate_wait_seconds", "sweep_after_seconds", "connect_timeout", *SECRET_FIELDS,
)  # fmt: skip
AUTO = "auto"  # junk_folders: what LIST marks \Junk, or names Junk / Spam
RECEIVED_LINES, RECEIVED_CHARS = 30, 300  # evidence kept from the busiest copy


# --- config -------------------------------------------------------------------------------


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    common.only(config, KEYS)
    out: dict[str, Any] = {}
    for side, tls_default, ports in (("smtp", False, (465, 25)), ("imap", True, (993, 143))):
        out[f"{side}_host"] = common.host(config, f"{side}_host")
        tls = out[f"{side}_tls"] = common.flag(config, f"{side}_tls", tls_default)
        out[f"{side}_port"] = common.port(config, f"{side}_port", ports[0] if tls else ports[1])
        starttls = common.choice(config, f"{side}_starttls", "if-offered", STARTTLS)
        out[f"{side}_starttls"] = "no" if tls else starttls
    out["smtp_username"] = common.optional_text(config, "smtp_username") or ""
    out["imap_username"] = common.required_text(config, "imap_username")
    out["mail_from"] = _address(config, "mail_from")
    out["mail_to"] = _address(config, "mail_to")
    out["verify_tls"] = common.flag(config, "verify_tls", True)
    out["ca_pem"] = common.ca_pem(config)
    out["inbox_folder"] = _folder(config.get("inbox_folder", "INBOX"), "inbox_folder")
    out["junk_folders"] = _junk_folders(config.get("junk_folders", AUTO))
    out.update(_timings(config))
    for key in SECRET_FIELDS:
        if key in config:
            out[key] = common.optional_text(config, key)
    return out


def _timings(config: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ok_seconds": common.positive(config, "ok_seconds", 60.0),
        "slow_seconds": common.positive(config, "slow_seconds", 120.0),
        "give_up_seconds": common.positive(config, "give_up_seconds", 600.0),
        "poll_seconds": common.positive(config, "poll_seconds", 2.0),
        "duplicate_wait_seconds": common.number(config, "duplicate_wait_seconds", 5.0),
        "sweep_after_seconds": common.number(config, "sweep_after_seconds", 3600.0),
        "connect_timeout": common.positive(config, "connect_timeout", 10.0),
        "hop_margin": common.whole(config, "hop_margin", 5, low=0, high=1000),
        "healthy_hops": None,
    }
    if config.get("healthy_hops") not in (None, ""):
        out["healthy_hops"] = common.whole(config, "healthy_hops", 0, low=0, high=1000)
    common.ordered(out, "ok_seconds", "slow_seconds")
    if out["give_up_seconds"] < out["slow_seconds"]:
        raise ConfigError("give_up_seconds must be at least slow_seconds")
    return out


def _address(config: Mapping[str, Any], key: str) -> str:
    value = common.required_text(config, key)
    local, at, domain = value.rpartition("@")
    if not (local and at and domain) or any(c in value for c in ' \t\r\n<>,;"()'):
        raise ConfigError(f"{key} must be a plain address such as probe@example.com")
    return value


def _folder(name: Any, key: str) -> str:
    if not isinstance(name, str) or not name or not name.isascii() or not name.isprintable():
        raise ConfigError(f"{key}: folder names are printable ASCII (IMAP modified UTF-7)")
    return name


def _junk_folders(value: Any) -> str | list[str]:
    if value == AUTO:
        return AUTO
    if not isinstance(value, list | tuple):
        raise ConfigError(f'junk_folders must be "{AUTO}" or a list of folder names')
    return [_folder(name, "junk_folders") for name in value]


# --- one run ------------------------------------------------------------------------------


class _Stop(Exception):
    """Ends a run early with this result."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.reason)
        self.result = result


@dataclass
class Outcome:
    """What one run saw, before judging (see ``judge``)."""

    token: str
    message_id: str
    smtp_ms: float
    waited: float  # seconds from send to the end of watching
    gave_up: bool  # the wait ended at give_up_seconds (not at the monitor's timeout)
    delivery: float | None = None  # seconds from send to the first copy seen
    copies: list[tuple[str, bytes]] = field(default_factory=list)  # (folder, header block)
    junk_folders: Sequence[str] = ()
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Run:
    """Where a run is, so the hard timeout can say whose fault it was."""

    phase: str = "imap"  # imap → smtp → wait → cleanup
    box: imap.Mailbox | None = None
    timeout: float = 0.0

    def timed_out(self) -> Result:
        if self.phase == "smtp":
            return common.no_answer(self.timeout, "waiting for the SMTP server")
        return Result(UNKNOWN, f"the IMAP server stopped answering ({self.phase})")


async def probe(spec: ProbeSpec) -> Result:
    run = _Run(timeout=spec.timeout)
    try:
        return await common.run(spec, check_config, lambda c, s: _check(c, s, run), run.timed_out)
    finally:
        if run.box is not None:  # the run ended early: log out without waiting for it
            asyncio.get_running_loop().run_in_executor(None, run.box.close)


async def _check(config: dict[str, Any], spec: ProbeSpec, run: _Run) -> Result:
    hard_end = time.monotonic() + spec.timeout
    budget_end = hard_end - min(5.0, max(0.3, spec.timeout * 0.1))  # the rest: cleanup
    try:
        run.box = await _open_mailbox(config, spec)
        outcome = await _round_trip(config, spec, run, budget_end)
        run.phase = "cleanup"
        box, run.box = run.box, None
        outcome.details.update(await _cleanup(config, box, outcome, hard_end))
        return judge(config, outcome)
    except _Stop as stop:
        return stop.result
    except imap.ImapError as exc:
        return Result(UNKNOWN, f"lost the IMAP mailbox while waiting: {exc}")


async def _open_mailbox(config: Mapping[str, Any], spec: ProbeSpec) -> imap.Mailbox:
    password = spec.secrets.get("imap_password")
    if not password:
        raise _Stop(Result(UNKNOWN, "the imap_password secret is not set"))
    host, port = config["imap_host"], config["imap_port"]
    try:
        address = await common.pin_host(host, port, spec.allowed)
    except common.Unresolvable as exc:  # our mailbox, not the service: not its fault
        raise _Stop(Result(UNKNOWN, f"IMAP: {exc}")) from None
    box = imap.Mailbox(
        imap.ImapSettings(
            host=host,
            address=address,
            port=port,
            tls=config["imap_tls"],
            starttls=config["imap_starttls"],
            context=common.tls_context(config["verify_tls"], config["ca_pem"]),
            user=config["imap_username"],
            password=password,
            timeout=min(config["connect_timeout"], spec.timeout / 2),
        )
    )
    try:
        await asyncio.to_thread(box.open)
    except imap.ImapError as exc:
        await asyncio.to_thread(box.close)
        raise _Stop(Result(UNKNOWN, str(exc))) from None
    return box


async def _round_trip(
    config: Mapping[str, Any], spec: ProbeSpec, run: _Run, budget_end: float
) -> Outcome:
    box = run.box
    assert box is not None
    junk = config["junk_folders"]
    if junk == AUTO:
        junk = await asyncio.to_thread(box.list_junk)
    folders = [config["inbox_folder"], *(f for f in junk if f != config["inbox_folder"])]
    token = f"hgp-{int(time.time())}-{token_hex(8)}"
    await asyncio.to_thread(box.find, folders, token)  # a first look finds missing folders
    if config["inbox_folder"] in box.missing:
        raise _Stop(Result(UNKNOWN, f"IMAP folder {config['inbox_folder']!r} does not exist"))
    folders = [f for f in folders if f not in box.missing]
    message = build_message(config, token)
    run.phase = "smtp"
    smtp_ms = await _send(config, spec, message, token)
    sent = time.monotonic()
    run.phase = "wait"
    wait_end = min(sent + config["give_up_seconds"], budget_end)
    first, found = await _watch(config, box, folders, token, sent, wait_end)
    outcome = Outcome(
        token=token,
        message_id=str(message["Message-ID"]),
        smtp_ms=smtp_ms,
        waited=time.monotonic() - sent,
        gave_up=wait_end >= sent + config["give_up_seconds"],
        delivery=first,
        junk_folders=folders[1:],
    )
    for folder, uids in found.items():
        headers = await asyncio.to_thread(box.headers, folder, sorted(uids, key=int))
        outcome.copies += [(folder, header) for header in headers]
    outcome.details["found"] = {folder: sorted(uids, key=int) for folder, uids in found.items()}
    outcome.details["watched"] = folders
    if box.missing:
        outcome.details["missing_folders"] = sorted(box.missing)
    return outcome


async def _watch(
    config: Mapping[str, Any],
    box: imap.Mailbox,
    folders: Sequence[str],
    token: str,
    sent: float,
    until: float,
) -> tuple[float | None, dict[str, set[str]]]:
    """Poll until the first copy (plus a short wait for duplicates) or ``until``."""
    first: float | None = None
    found: dict[str, set[str]] = {}
    stop = until
    while True:
        hits = await asyncio.to_thread(box.find, folders, token)
        now = time.monotonic()
        for folder, uids in hits.items():
            found.setdefault(folder, set()).update(uids)
        if found and first is None:
            first = now - sent
            stop = min(until, now + config["duplicate_wait_seconds"])
        if now >= stop:
            return first, found
        await asyncio.sleep(min(config["poll_seconds"], stop - now))


async def _cleanup(
    config: Mapping[str, Any], box: imap.Mailbox, outcome: Outcome, hard_end: float
) -> dict[str, Any]:
    """Delete this run's copies, sweep old canaries and log out, in the time left."""
    found: dict[str, list[str]] = outcome.details.pop("found", {})
    folders = [config["inbox_folder"], *outcome.junk_folders]
    cutoff = time.time() - config["sweep_after_seconds"]

    def work() -> dict[str, Any]:
        try:
            deleted = sum(box.delete(folder, uids) for folder, uids in found.items())
            return {"deleted": deleted, "swept": box.sweep(folders, cutoff)}
        except imap.ImapError as exc:
            return {"cleanup": f"incomplete: {exc}"}
        finally:
            box.close()

    try:
        left = max(hard_end - time.monotonic() - 0.2, 0.05)
        return await asyncio.wait_for(asyncio.to_thread(work), timeout=left)
    except TimeoutError:  # the thread finishes (or times out) on its own
        return {"cleanup": "incomplete: no time left"}


# --- sending ------------------------------------------------------------------------------


def build_message(config: Mapping[str, Any], token: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config["mail_from"]
    message["To"] = config["mail_to"]
    message["Subject"] = f"{imap.SUBJECT_PREFIX} {token}"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{token}@{config['mail_from'].rpartition('@')[2]}>"
    message[imap.TOKEN_HEADER] = token
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "Heliograph checks that mail gets through by sending this message and finding it\n"
        "in the mailbox. It is deleted automatically; nobody needs to act on it.\n"
    )
    return message


async def _send(
    config: Mapping[str, Any], spec: ProbeSpec, message: EmailMessage, token: str
) -> float:
    """Milliseconds from connecting until the message is accepted; _Stop when it is not."""
    host, port = config["smtp_host"], config["smtp_port"]
    username, password = config["smtp_username"], spec.secrets.get("smtp_password")
    if username and not password:
        raise _Stop(Result(UNKNOWN, "smtp_username is set but the smtp_password secret is not"))
    address = await common.pin_host(host, port, spec.allowed)
    timeout = min(config["connect_timeout"], spec.timeout)
    start = time.monotonic()
    client: aiosmtplib.SMTP | None = None
    try:
        sock = await _connect(address, port, timeout)
        client = aiosmtplib.SMTP(
            hostname=host,
            sock=sock,
            timeout=timeout,
            use_tls=config["smtp_tls"],
            start_tls={"require": True, "no": False}.get(config["smtp_starttls"]),
            tls_context=common.tls_context(config["verify_tls"], config["ca_pem"]),
            username=username or None,
            password=password if username else None,
        )
        await client.connect()
        await client.send_message(message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise _Stop(_smtp_problem(exc, f"{host}:{port}", token)) from None
    finally:
        if client is not None:
            await _quit(client)
    return (time.monotonic() - start) * 1000


async def _connect(address: str, port: int, timeout: float) -> socket.socket:
    """A connected socket to the checked address (aiosmtplib keeps the host for TLS)."""
    info = (await asyncio.get_running_loop().getaddrinfo(address, port, type=socket.SOCK_STREAM))[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, info[4]), timeout)
    except BaseException:
        sock.close()
        raise
    return sock


def _smtp_problem(exc: BaseException, where: str, token: str) -> Result:
    details = {"token": token, "smtp": where}
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError) and exc.code == 535:
        # The probe's own credentials, like a refused IMAP login: not the platform's fault.
        return Result(UNKNOWN, f"SMTP {where} refused the probe's login ({exc.code})", {}, details)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        said = " ".join(str(exc.message).split())[:200]
        return Result(FAIL, f"SMTP {where} refused the message: {exc.code} {said}", {}, details)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        said = "; ".join(f"{e.code} {' '.join(e.message.split())[:100]}" for e in exc.recipients)
        return Result(FAIL, f"SMTP {where} refused the recipient: {said}", {}, details)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return Result(FAIL, f"SMTP {where} did not answer in time", {}, details)
    return Result(FAIL, f"SMTP {where}: {common.describe(exc)[:200]}", {}, details)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()


# --- judging ------------------------------------------------------------------------------


def judge(config: Mapping[str, Any], outcome: Outcome) -> Result:
    """The verdict for what a run saw (pure: the rules in the module docstring)."""
    details: dict[str, Any] = {"token": outcome.token, "message_id": outcome.message_id}
    details.update(outcome.details)
    if outcome.delivery is None:
        return _undelivered(config, outcome, details)
    seconds = outcome.delivery
    parser = BytesHeaderParser(policy=compat32)
    copies = [(folder, parser.parsebytes(header)) for folder, header in outcome.copies]
    folders = [folder for folder, _ in copies] or [config["inbox_folder"]]
    hops = max((_hops(m) for _, m in copies), default=0)
    verdict = OK if seconds <= config["ok_seconds"] else HOLD
    if seconds >= config["slow_seconds"]:
        verdict = SLOW
    found = _problems(config, folders, outcome.junk_folders, hops)
    problems = list(found.values())
    if problems:
        verdict = SLOW
    # What a customer would notice, for the public text (``monitors.wording``).
    details["noticed"] = next(iter(found), "delay")
    if copies:
        busiest = max((m for _, m in copies), key=_hops)
        details["message_id"] = " ".join(str(busiest.get("Message-ID", "")).split())
        details["received"] = _received_lines(busiest.get_all("Received") or [])
    details.update(folder=folders[0], folders=folders)
    values = {
        "delivery_seconds": round(seconds, 3),
        "hops": float(hops),
        "copies": float(len(folders)),
        "smtp_ms": round(outcome.smtp_ms, 1),
    }
    reason = "; ".join([_delivered(config, seconds), *problems])
    return Result(verdict, reason, values, details)


def _hops(message: Message) -> int:
    return len(message.get_all("Received") or [])


def _delivered(config: Mapping[str, Any], seconds: float) -> str:
    ok, slow = config["ok_seconds"], config["slow_seconds"]
    if seconds >= slow:
        return f"delivered in {_against(seconds, slow)}, slow (≥ {slow:g} s)"
    if seconds > ok:
        return f"delivered in {_against(seconds, ok)}, above the ok threshold ({ok:g} s)"
    return f"delivered in {_secs(seconds)}"


def _problems(
    config: Mapping[str, Any], folders: Sequence[str], junk: Sequence[str], hops: int
) -> dict[str, str]:
    """What is wrong besides time, by what customers would notice (``junk``, ``loop``)."""
    problems = {}
    in_junk = sorted({f for f in folders if f in junk})
    if in_junk:
        problems["junk"] = f"delivered to {', '.join(in_junk)}"
    if len(folders) > 1:
        problems["loop"] = f"{len(folders)} copies arrived (a mail loop?)"
    baseline = config["healthy_hops"]
    if baseline is not None and hops > baseline + config["hop_margin"]:
        margin = config["hop_margin"]
        hops_text = f"{hops} Received hops, more than the healthy {baseline} + {margin}"
        problems["loop"] = "; ".join(filter(None, [problems.get("loop"), hops_text]))
    return problems


def _undelivered(config: Mapping[str, Any], outcome: Outcome, details: dict[str, Any]) -> Result:
    waited, ok, slow = outcome.waited, config["ok_seconds"], config["slow_seconds"]
    values = {"copies": 0.0, "waited_seconds": round(waited, 3)}
    values["smtp_ms"] = round(outcome.smtp_ms, 1)
    if outcome.gave_up:
        reason = f"not delivered within {_secs(config['give_up_seconds'])}"
        return Result(FAIL, reason, values, details)
    text = "not delivered after {} (still in flight)"
    if waited >= slow:
        said = f"{text.format(_against(waited, slow))}, slow (≥ {slow:g} s)"
        return Result(SLOW, said, values, details)
    if waited >= ok:
        said = f"{text.format(_against(waited, ok))}, above the ok threshold ({ok:g} s)"
        return Result(HOLD, said, values, details)
    text = text.format(_secs(waited))
    reason = (
        f"{text}: the monitor's timeout ends the wait before ok_seconds ({_secs(ok)}); "
        "give the monitor a timeout above slow_seconds"
    )
    return Result(UNKNOWN, reason, values, details)


def _received_lines(lines: Sequence[str]) -> list[str]:
    trimmed = [" ".join(str(line).split())[:RECEIVED_CHARS] for line in lines]
    if len(trimmed) > RECEIVED_LINES:
        half = RECEIVED_LINES // 2
        trimmed = [*trimmed[:half], f"… {len(trimmed) - 2 * half} more …", *trimmed[-half:]]
    return trimmed


def _against(seconds: float, limit: float) -> str:
    """``_secs`` beside a threshold: more decimals when fewer would print the threshold."""
    places = 0 if seconds >= 10 else 1 if seconds >= 1 else 2
    return f"{common.compared(seconds, limit, places)} s"


def _secs(seconds: float) -> str:
    """``600 s``, ``1.6 s``, ``0.5 s``, ``0.016 s``."""
    if seconds >= 10:
        return f"{seconds:.0f} s"
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds:.2g} s"
