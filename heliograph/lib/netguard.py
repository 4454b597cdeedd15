"""Outbound requests to user-given URLs reach public addresses only (architecture: Outbound
requests).

The host is resolved once, every address it resolves to is checked, and the request is
then sent to the checked address (the URL's host kept for ``Host`` and TLS SNI), so a DNS
answer that changes between the check and the connection cannot point us inward.
Operators allow private ranges with ``HELIOGRAPH_ALLOW_PRIVATE_TARGETS`` (CIDRs).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from heliograph.lib import networks
from heliograph.lib.errors import InputError

ALLOW_SETTING = "HELIOGRAPH_ALLOW_PRIVATE_TARGETS"
PROXIES_SETTING = "HELIOGRAPH_TRUSTED_PROXIES"


class Refused(Exception):
    """The URL is not one Heliograph will send to."""


@dataclass(frozen=True)
class Target:
    url: str  # with the host replaced by the checked address
    host_header: str
    server_name: str  # for TLS SNI and certificate checks


def allowed_networks() -> list[networks.Network]:
    return _networks(ALLOW_SETTING)


def trusted_proxies() -> list[networks.Network]:
    """The proxies (nginx) whose ``X-Forwarded-For`` tells who the visitor is."""
    return _networks(PROXIES_SETTING)


def _networks(name: str) -> list[networks.Network]:
    try:
        return networks.parse_networks(getattr(settings, name))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


def _split(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        hostname, port = parts.hostname, parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535"
        raise Refused(f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise Refused(f"{url!r} is not an http(s) URL")
    try:  # as getaddrinfo will: an empty or over-long label fails here, not there
        hostname.encode("idna")
    except UnicodeError:
        raise Refused(f"{hostname!r} is not a valid host name") from None
    return parts.scheme, hostname, port or (443 if parts.scheme == "https" else 80)


def _pin(url: str, addresses: list[str], allowed: list[networks.Network]) -> Target:
    if not addresses:
        raise Refused(f"{urlsplit(url).hostname} does not resolve")
    for address in addresses:
        if not networks.address_allowed(address, allowed):
            raise Refused(
                f"{urlsplit(url).hostname} resolves to {address}, a private or reserved "
                f"address (allow it with {ALLOW_SETTING})"
            )
    parts = urlsplit(url)
    ip = ipaddress.ip_address(addresses[0])
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    if parts.port:
        netloc += f":{parts.port}"
    return Target(
        url=urlunsplit(parts._replace(netloc=netloc)),
        host_header=parts.netloc.rpartition("@")[2],
        server_name=parts.hostname or "",
    )


async def resolve(url: str, allowed: list[networks.Network]) -> Target:
    """Check ``url`` and pin it to a checked address; raises Refused."""
    _, hostname, port = _split(url)
    return _pin(url, await _addresses(hostname, port), allowed)


async def _addresses(hostname: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"{hostname} does not resolve ({exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Resolver:
    """``resolve`` with each host looked up once while this object lives (one batch):
    10,000 webhooks to one host make one DNS query, and every URL is still checked."""

    def __init__(self, allowed: list[networks.Network]) -> None:
        self.allowed = allowed
        self.lookups: dict[tuple[str, int], asyncio.Future[list[str]]] = {}

    async def resolve(self, url: str) -> Target:
        _, hostname, port = _split(url)
        lookup = self.lookups.get((hostname, port))
        if lookup is None:  # concurrent requests to a new host share its one lookup
            lookup = asyncio.ensure_future(_addresses(hostname, port))
            self.lookups[hostname, port] = lookup
        try:
            addresses = await asyncio.shield(lookup)
        except Refused as exc:
            raise Refused(str(exc)) from None
        return _pin(url, addresses, self.allowed)


def check_endpoint(url: str) -> None:
    """For subscribe forms and the API: InputError when a webhook URL would be refused."""
    try:
        _, hostname, port = _split(url)
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
        _pin(url, [str(info[4][0]) for info in infos], allowed_networks())
    except OSError as exc:
        raise InputError(f"the webhook host does not resolve ({exc})") from None
    except Refused as exc:
        raise InputError(f"webhooks cannot be sent there: {exc}") from None
