"""``tls_certificate``: is the certificate trusted, and how long until it expires.

Config: ``host`` (required), ``port`` (443), ``server_name`` (the name to ask for and
check; default ``host``), ``warn_days`` (21), ``fail_days`` (7), ``verify`` (true: the
chain and the name must check out), ``ca_pem`` (certificates to trust instead of the
system store).

Values: ``days_left`` (fractional days until notAfter; negative once expired),
``latency_ms`` (connect and handshake).
Verdicts: ``fail`` when the certificate has expired, is not yet valid, is not trusted or
does not match the name (with ``verify``), or has fewer than ``fail_days`` left; ``slow``
(the warning) with fewer than ``warn_days`` left; else ``ok``. A connection error or a
timeout is ``fail``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from heliograph.monitors.probes import common
from heliograph.monitors.probes.base import FAIL, OK, SLOW, ProbeSpec, Result

KIND = "tls_certificate"
SECRET_FIELDS: tuple[str, ...] = ()
KEYS = ("host", "port", "server_name", "warn_days", "fail_days", "verify", "ca_pem")
DAY = 86400.0


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    common.only(config, KEYS)
    checked = {
        "host": common.host(config),
        "port": common.port(config, default=443),
        "server_name": common.optional_text(config, "server_name"),
        "warn_days": common.number(config, "warn_days", 21.0, high=3650),
        "fail_days": common.number(config, "fail_days", 7.0, high=3650),
        "verify": common.flag(config, "verify", True),
        "ca_pem": common.ca_pem(config),
    }
    if checked["server_name"]:
        checked["server_name"] = common.host({"server_name": checked["server_name"]}, "server_name")
    common.ordered(checked, "fail_days", "warn_days")
    return checked


async def probe(spec: ProbeSpec) -> Result:
    return await common.run(spec, check_config, _check)


async def _check(config: dict[str, Any], spec: ProbeSpec) -> Result:
    name = config["server_name"] or config["host"]
    where = f"{name}:{config['port']}"
    address = await common.pin_host(config["host"], config["port"], spec.allowed)
    start = time.perf_counter()
    try:
        der, info = await _handshake(address, config, name, config["verify"])
    except ssl.SSLCertVerificationError as exc:
        return await _untrusted(address, config, name, exc)
    except (OSError, ssl.SSLError) as exc:
        return Result(FAIL, f"{where}: {common.describe(exc)}", details={"address": address})
    values = {"latency_ms": common.elapsed_ms(start)}
    return judge(config, where, der, values, {"address": address, **info})


async def _handshake(
    address: str, config: dict[str, Any], name: str, verify: bool
) -> tuple[bytes, dict[str, Any]]:
    """The server's certificate (DER) and what the handshake showed."""
    context = common.tls_context(verify, config["ca_pem"])
    reader, writer = await asyncio.open_connection(
        address, config["port"], ssl=context, server_hostname=name
    )
    try:
        tls = writer.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True) if tls else None
        if not der:
            raise ssl.SSLError("the server sent no certificate")
        info: dict[str, Any] = {"tls_version": tls.version()}
        peer = tls.getpeercert() if verify else None
        if peer:
            info["subject"] = _name(peer.get("subject", ()))
            info["issuer"] = _name(peer.get("issuer", ()))
        return der, info
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def _name(rdns: Any) -> str:
    return ", ".join(f"{key}={value}" for rdn in rdns for key, value in rdn)


async def _untrusted(
    address: str, config: dict[str, Any], name: str, error: ssl.SSLCertVerificationError
) -> Result:
    """Fail, saying why; look again without verifying to report the dates too."""
    where = f"{name}:{config['port']}"
    details: dict[str, Any] = {"address": address, "verify_error": error.verify_message}
    try:
        der, _ = await _handshake(address, config, name, verify=False)
        not_before, not_after = validity(der)
    except (OSError, ssl.SSLError, ValueError):
        return Result(FAIL, f"{where}: the certificate is not trusted ({error.verify_message})")
    left = (not_after - datetime.now(UTC)).total_seconds() / DAY
    details["not_after"] = not_after.isoformat()
    values = {"days_left": round(left, 2)}
    if left < 0:
        reason = f"the certificate of {where} expired on {_day(not_after)}"
    else:
        reason = f"the certificate of {where} is not trusted ({error.verify_message})"
    return Result(FAIL, reason, values, details)


def judge(
    config: dict[str, Any],
    where: str,
    der: bytes,
    values: dict[str, float],
    details: dict[str, Any],
) -> Result:
    try:
        not_before, not_after = validity(der)
    except ValueError as exc:
        return Result(FAIL, f"{where} sent a certificate that cannot be read ({exc})")
    now = datetime.now(UTC)
    left = (not_after - now).total_seconds() / DAY
    values = {**values, "days_left": round(left, 2)}
    details = {**details, "not_before": not_before.isoformat(), "not_after": not_after.isoformat()}
    if left < 0:
        return Result(
            FAIL, f"the certificate of {where} expired on {_day(not_after)}", values, details
        )
    if not_before > now:
        reason = f"the certificate of {where} is not valid before {_day(not_before)}"
        return Result(FAIL, reason, values, details)
    for verdict, limit in ((FAIL, config["fail_days"]), (SLOW, config["warn_days"])):
        if left < limit:
            days = common.compared(left, limit, 1)
            said = f"the certificate of {where} expires in {days} days ({_day(not_after)})"
            return Result(verdict, f"{said}, under {limit:g} days", values, details)
    expires = f"the certificate of {where} expires in {left:.1f} days ({_day(not_after)})"
    return Result(OK, expires, values, details)


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# --- just enough DER to read a certificate's validity -------------------------------------


def _element(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``pos``."""
    if pos + 2 > len(der):
        raise ValueError("truncated certificate")
    tag, length = der[pos], der[pos + 1]
    start = pos + 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4:
            raise ValueError("unsupported length in certificate")
        length = int.from_bytes(der[start : start + size], "big")
        start += size
    if start + length > len(der):
        raise ValueError("truncated certificate")
    return tag, start, start + length


def validity(der: bytes) -> tuple[datetime, datetime]:
    """notBefore and notAfter of an X.509 certificate (RFC 5280 §4.1)."""
    _, certificate, _ = _element(der, 0)
    _, pos, _ = _element(der, certificate)  # tbsCertificate
    tag, _, end = _element(der, pos)
    if tag == 0xA0:  # [0] version
        pos = end
    for _ in range(3):  # serialNumber, signature, issuer
        _, _, pos = _element(der, pos)
    tag, start, _ = _element(der, pos)
    if tag != 0x30:
        raise ValueError("no validity in certificate")
    first = _element(der, start)
    second = _element(der, first[2])
    return _time(der, first), _time(der, second)


def _time(der: bytes, element: tuple[int, int, int]) -> datetime:
    tag, start, end = element
    text = der[start:end].decode("ascii", "replace")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        raise ValueError("unexpected time in certificate")
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"unreadable time {text!r} in certificate") from None
