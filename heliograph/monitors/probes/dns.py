"""``dns``: ask one server for one record set and compare the answers.

Config: ``name`` (required), ``type`` (A; also AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT,
CAA, TLSA), ``server`` (an IP address with an optional port: "192.0.2.53",
"192.0.2.53:5353", "[2001:db8::53]:53"; default: the first nameserver of the prober's
system resolver), ``expect`` (a value or a list of values, in zone-file text such as
"10 mx1.example.com" for MX; names compare without case or final dot, TXT strings
joined), ``match`` ("equal": the answers are exactly the expected set; "contains": the
expected values are among the answers), ``slow_ms`` (1000).

Values: ``latency_ms``, ``answers`` (how many records of the type came back).
Verdicts: ``fail`` on NXDOMAIN, SERVFAIL, REFUSED or another error code, no answer within
the timeout, no record of the type, or answers that differ from ``expect``; ``slow`` when
the answer took more than ``slow_ms``; else ``ok``. No usable system resolver is
``unknown`` (the prober's own fault).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from typing import Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver

from heliograph.monitors.probes import common
from heliograph.monitors.probes.base import FAIL, OK, SLOW, UNKNOWN, ConfigError, ProbeSpec, Result

KIND = "dns"
SECRET_FIELDS: tuple[str, ...] = ()
TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TLSA", "TXT")
MATCHES = ("equal", "contains")
DEFAULT_SLOW_MS = 1000.0
KEYS = ("name", "type", "server", "expect", "match", "slow_ms")


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    common.only(config, KEYS)
    record_type = common.choice(config, "type", "A", TYPES)
    name = common.required_text(config, "name")
    try:
        dns.message.make_query(name, record_type)
    except (dns.exception.DNSException, ValueError) as exc:
        raise ConfigError(f"name {name!r} is not a DNS name ({exc})") from None
    checked: dict[str, Any] = {
        "name": name,
        "type": record_type,
        "server": _server(common.optional_text(config, "server")),
        "expect": _expect(config.get("expect"), record_type),
        "match": common.choice(config, "match", "equal", MATCHES),
        "slow_ms": common.positive(config, "slow_ms", DEFAULT_SLOW_MS),
    }
    return checked


def _server(value: str | None) -> str | None:
    """Normalised "address:port" (IPv6 in brackets); ConfigError when not an IP address."""
    if value is None:
        return None
    address, port = value, 53
    if value.startswith("["):
        address, _, rest = value[1:].partition("]")
        port = _port(rest[1:], value) if rest.startswith(":") else 53
    elif value.count(":") == 1:
        address, text = value.split(":")
        port = _port(text, value)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(
            f"server must be an IP address with an optional port, not {value!r}"
        ) from None
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _port(text: str, value: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ConfigError(f"server {value!r} has a bad port")
    return int(text)


def _split_server(server: str) -> tuple[str, int]:
    address, _, port = server.rpartition(":")
    return address.strip("[]"), int(port)


def _expect(value: Any, record_type: str) -> list[str] | None:
    if value is None or value == "" or value == []:
        return None
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise ConfigError("expect must be a value or a list of values (text)")
    return sorted({normal(record_type, item) for item in items})


def normal(record_type: str, text: str) -> str:
    """One answer as compared: names without case or final dot, TXT strings joined."""
    text = " ".join(text.split())
    if record_type == "TXT":
        parts = text.split('" "') if text.startswith('"') else [text]
        return "".join(part.strip('"') for part in parts)
    return " ".join(word.rstrip(".") if word != "." else word for word in text.lower().split())


async def probe(spec: ProbeSpec) -> Result:
    return await common.run(spec, check_config, _check)


async def _check(config: dict[str, Any], spec: ProbeSpec) -> Result:
    server = config["server"]
    if server is None:
        try:
            nameservers = dns.resolver.get_default_resolver().nameservers
        except dns.exception.DNSException as exc:
            return Result(UNKNOWN, f"the prober has no usable DNS resolver ({exc})")
        if not nameservers:
            return Result(UNKNOWN, "the prober has no DNS resolver configured")
        address, port = str(nameservers[0]), 53
    else:
        address, port = _split_server(server)
        common.check_address(address, address, spec.allowed)
    query = dns.message.make_query(config["name"], config["type"])
    start = time.perf_counter()
    try:
        response, _ = await dns.asyncquery.udp_with_fallback(
            query, address, timeout=spec.timeout, port=port
        )
    except dns.exception.Timeout:
        return common.no_answer(spec.timeout, f"from {address}")
    except (OSError, dns.exception.DNSException) as exc:
        return Result(FAIL, f"{address} did not answer properly: {common.describe(exc)}")
    return judge(config, response, address, common.elapsed_ms(start))


def judge(config: dict[str, Any], response: dns.message.Message, server: str, ms: float) -> Result:
    name, record_type = config["name"], config["type"]
    asked = f"{record_type} {name}"
    rcode = dns.rcode.to_text(response.rcode())
    wanted = dns.rdatatype.from_text(record_type)
    answers = sorted(
        {
            normal(record_type, rdata.to_text())
            for rrset in response.answer
            if rrset.rdtype == wanted
            for rdata in rrset
        }
    )
    values = {"latency_ms": ms, "answers": float(len(answers))}
    details: dict[str, Any] = {"server": server, "rcode": rcode, "answers": answers}
    if rcode == "NXDOMAIN":
        return Result(FAIL, f"{name} does not exist (NXDOMAIN from {server})", values, details)
    if rcode != "NOERROR":
        return Result(FAIL, f"{server} answered {rcode} for {asked}", values, details)
    if not answers:
        return Result(FAIL, f"{server} has no {record_type} record for {name}", values, details)
    expected = config["expect"]
    if expected is not None:
        missing = [e for e in expected if e not in answers]
        extra = [a for a in answers if a not in expected] if config["match"] == "equal" else []
        if missing or extra:
            reason = f"{asked} is {', '.join(answers)}; expected {', '.join(expected)}"
            return Result(FAIL, reason, values, details)
    if ms > config["slow_ms"]:
        took, limit = common.compared(ms, config["slow_ms"]), config["slow_ms"]
        reason = f"{server} took {took} ms to answer {asked} (slow above {limit:g} ms)"
        return Result(SLOW, reason, values, details)
    return Result(OK, f"{asked}: {', '.join(answers)} ({ms:.0f} ms)", values, details)
