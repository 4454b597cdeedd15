"""Delivery rules: backoff, quarantine, the webhook signature, list headers, address guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heliograph.lib import networks
from heliograph.notify import rules

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
rand = st.floats(min_value=0, max_value=1, exclude_max=True)


@given(st.integers(min_value=1, max_value=200), rand, rand)
def test_it_backs_off_exponentially_within_jitter_and_a_cap(attempts: int, a: float, b: float):
    delay = rules.retry_delay(attempts, a)
    nominal = min(rules.BACKOFF_CAP, rules.BACKOFF_BASE * 2 ** (attempts - 1))
    assert nominal * (1 - rules.JITTER) <= delay <= nominal * (1 + rules.JITTER)
    assert delay <= rules.BACKOFF_CAP * (1 + rules.JITTER)
    # Later retries never come sooner than earlier ones could (before the cap flattens it).
    if nominal * 2 <= rules.BACKOFF_CAP:
        assert rules.retry_delay(attempts + 1, b) >= delay * (1 - rules.JITTER) / (1 + rules.JITTER)


def test_it_gives_up_after_the_last_attempt():
    assert not rules.gives_up(rules.MAX_ATTEMPTS - 1)
    assert rules.gives_up(rules.MAX_ATTEMPTS)
    total = sum(rules.retry_delay(n, 0.5) for n in range(1, rules.MAX_ATTEMPTS))
    assert timedelta(minutes=30) < timedelta(seconds=total) < timedelta(hours=6)


@given(st.lists(st.integers(min_value=0, max_value=2 * 3600), max_size=30))
def test_it_quarantines_on_ten_failures_within_an_hour(offsets: list[int]):
    now = T0 + timedelta(hours=2)
    failures = [T0 + timedelta(seconds=s) for s in offsets]
    within = [f for f in failures if now - f < timedelta(hours=1)]
    assert rules.should_quarantine(failures, now) == (len(within) >= 10)
    assert rules.recent_failures(failures, now) == sorted(within)


def test_it_does_not_quarantine_nine_failures_or_ten_spread_over_more_than_an_hour():
    nine = [T0 + timedelta(minutes=m) for m in range(9)]
    assert not rules.should_quarantine(nine, T0 + timedelta(minutes=10))
    spread = [T0 + timedelta(minutes=7 * m) for m in range(10)]  # 63 minutes
    assert not rules.should_quarantine(spread, spread[-1])
    assert rules.should_quarantine([*nine, T0 + timedelta(minutes=59)], T0 + timedelta(minutes=59))


@given(st.text(min_size=1), st.binary())
def test_it_signs_bodies_so_receivers_can_verify_them(secret: str, body: bytes):
    signature = rules.sign(secret, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert rules.verify(secret, body, signature)
    assert not rules.verify(secret + "x", body, signature)
    assert not rules.verify(secret, body + b"x", signature)


def test_it_writes_rfc_8058_and_2919_header_values():
    url = "https://status.example.com/notify/unsubscribe/abc"
    assert rules.list_unsubscribe(url) == f"<{url}>"
    assert rules.list_unsubscribe(url, "leave@example.com") == (
        f"<{url}>, <mailto:leave@example.com?subject=unsubscribe>"
    )
    assert rules.ONE_CLICK == "List-Unsubscribe=One-Click"
    assert rules.list_id('Open"SRS', "abc123", "Status.Example.com") == (
        '"OpenSRS status" <abc123.status.example.com>'
    )
    with pytest.raises(ValueError):
        rules.list_unsubscribe("mailto:x@example.com")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.1.1",
        "172.16.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1%eth0",
        "fc00::1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "100.64.0.1",
    ],
)
def test_it_refuses_private_and_loopback_addresses(address: str):
    assert not networks.address_allowed(address)


def test_it_allows_public_addresses_and_allow_listed_ranges():
    assert networks.address_allowed("93.184.216.34")
    assert networks.address_allowed("2606:2800:220:1:248:1893:25c8:1946")
    allowed = networks.parse_networks("127.0.0.0/8, ::1/128")
    assert networks.address_allowed("127.0.0.1", allowed)
    assert networks.address_allowed("::1", allowed)
    assert not networks.address_allowed("10.0.0.1", allowed)
    with pytest.raises(ValueError, match="not-a-net"):
        networks.parse_networks("127.0.0.0/8,not-a-net")


def test_it_takes_the_visitor_from_x_forwarded_for_only_behind_a_trusted_proxy():
    nginx = networks.parse_networks("127.0.0.1/32, 10.0.0.0/8")
    assert networks.client_address("198.51.100.7", "", nginx) == "198.51.100.7"
    assert networks.client_address("127.0.0.1", "198.51.100.7", nginx) == "198.51.100.7"
    # Not from a trusted proxy: the header is the client's own claim and is ignored.
    assert networks.client_address("198.51.100.7", "203.0.113.1", nginx) == "198.51.100.7"
    assert networks.client_address("127.0.0.1", "198.51.100.7", []) == "127.0.0.1"
    # A client cannot hide behind an address it prepends: the nearest untrusted hop counts.
    forged = "203.0.113.1, 198.51.100.7, 10.1.2.3"
    assert networks.client_address("127.0.0.1", forged, nginx) == "198.51.100.7"
    assert networks.client_address("127.0.0.1", "junk, 10.1.2.3", nginx) == "junk"
    assert networks.client_address("127.0.0.1", "10.1.2.3", nginx) == "10.1.2.3"  # all trusted
