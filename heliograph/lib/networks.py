"""Which network addresses a user-given URL may reach, and who a request is from behind
trusted proxies: pure rules (no Django), shared by notifications, probes and login
throttling."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> list[Network]:
    """``"127.0.0.0/8, ::1/128"`` → networks; raises ValueError naming the bad entry."""
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not a CIDR network such as 127.0.0.0/8") from None
    return networks


def address_allowed(address: str, allowed: Sequence[Network] = ()) -> bool:
    """Public unicast addresses pass; private, loopback, link-local, … only if allow-listed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    if any(ip in net for net in allowed):
        return True
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def client_address(remote: str, forwarded_for: str, proxies: Sequence[Network] = ()) -> str:
    """Who is asking: ``remote``, or behind trusted proxies the nearest ``X-Forwarded-For``
    address that is not one of them (the leftmost entries are the client's own claims)."""
    hops = [remote] + [a.strip() for a in reversed(forwarded_for.split(",")) if a.strip()]
    for hop in hops:
        try:
            if not any(ipaddress.ip_address(hop) in net for net in proxies):
                return hop
        except ValueError:  # garbage from the client: it cannot be told apart from others
            return hop
    return hops[-1]
