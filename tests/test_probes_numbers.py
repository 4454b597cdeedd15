"""Numbers in probe reasons never contradict the threshold beside them: "delivered in 3.0 s,
above the ok threshold (3.0 s)" for 3.009 s was the issue-14 example."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heliograph.monitors.probes import common, http, mail_roundtrip, prometheus, rspamd

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


def side(a: float, b: float) -> int:
    return (a > b) - (a < b)


@given(finite, finite, st.integers(0, 3))
def test_it_never_prints_a_value_on_the_wrong_side_of_its_threshold(
    value: float, limit: float, places: int
) -> None:
    shown = common.compared(value, limit, places)
    assert side(float(shown), limit) == side(value, limit), (value, limit, shown)
    if "." in shown and "e" not in shown:
        assert len(shown.split(".")[1]) >= places
    assert side(float(common.compared_g(value, limit)), limit) == side(value, limit)
    assert float(common.exact(limit)) == limit


@pytest.mark.parametrize(
    ("value", "limit", "places", "shown"),
    [
        (3.009, 3, 1, "3.01"),  # not "3.0"
        (2.98, 3, 1, "2.98"),
        (3.0, 3, 1, "3.0"),  # equal may read equal
        (3.3, 3, 1, "3.3"),  # far enough: the usual decimal
        (2000.4, 2000, 0, "2000.4"),
        (187.0, 120, 0, "187"),
        (6.98, 7, 1, "6.98"),
    ],
)
def test_it_adds_decimals_only_when_the_usual_ones_would_print_the_threshold(
    value: float, limit: float, places: int, shown: str
) -> None:
    assert common.compared(value, limit, places) == shown


def roundtrip(delivery: float, **config: Any) -> str:
    checked = mail_roundtrip.check_config(
        {
            "smtp_host": "mx.example.net", "mail_from": "p@example.org",
            "mail_to": "p@example.net", "imap_host": "imap.example.net",
            "imap_username": "p@example.net", **config,
        }
    )  # fmt: skip
    copy = ("INBOX", b"Received: from a by b; now\r\n\r\n")
    outcome = mail_roundtrip.Outcome(
        token="hgp-1-" + "0" * 16, message_id="<m@x>", smtp_ms=12.0, waited=delivery,
        gave_up=False, delivery=delivery, copies=[copy], junk_folders=["Junk"],
    )  # fmt: skip
    return mail_roundtrip.judge(checked, outcome).reason


def test_it_writes_a_delivery_time_that_visibly_crosses_the_threshold() -> None:
    assert roundtrip(3.009, ok_seconds=3, slow_seconds=10) == (
        "delivered in 3.01 s, above the ok threshold (3 s)"
    )
    assert (
        roundtrip(10.4, ok_seconds=3, slow_seconds=10.4) == "delivered in 10.4 s, slow (≥ 10.4 s)"
    )
    assert roundtrip(2.5, ok_seconds=3, slow_seconds=10) == "delivered in 2.5 s"


def test_it_writes_latencies_and_values_that_visibly_cross_the_threshold() -> None:
    answer = common.Response(200, "OK", httpx.Headers(), b"", "utf-8", "https://example.net/")
    config = http.check_config({"url": "https://example.net/", "slow_ms": 2000})
    slow = http.judge(config, answer, 2000.4)
    assert "in 2000.4 ms (slow above 2000 ms)" in slow.reason
    query = {"url": "http://prometheus:9090", "query": "q", "slow_above": 0.9}
    judged = prometheus.judge(prometheus.check_config(query), [("{}", 0.9000001)])
    assert judged.reason == "q = 0.9000001, above the slow threshold 0.9"
    odd = prometheus.check_config({**query, "slow_above": 0.123456789})
    assert prometheus.judge(odd, [("{}", 0.1234568)]).reason.endswith("threshold 0.123456789")
    counters = rspamd.judge_counters(
        {"scan_slow_ms": 250}, {"scanned": 10.0, "scan_time_ms": 250.2}, "rspamd"
    )
    assert "250.2 ms per scan lately (slow above 250 ms)" in counters.reason
