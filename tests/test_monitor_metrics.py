"""Metric points (monitors.metrics): stored, downsampled with age, charted, exported."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.monitors import metrics
from heliograph.monitors.models import FIVE_MINUTES, HOURLY, RAW, MetricPoint, Monitor, ProbeResult
from heliograph.publish import html
from heliograph.publish.build import publish_page
from heliograph.publish.publisher import refresh_public_charts
from heliograph.publish.readpath import ReadPath
from heliograph.publish.store import SnapshotStore
from heliograph.publish.world import load_world
from heliograph.urls import django_prefixes
from tests.support.html import read, text_of
from tests.support.world import NOW

MINUTE = timedelta(minutes=1)


def make_monitor(page: Page, component: Component | None = None, **fields: Any) -> Monitor:
    defaults: dict[str, Any] = {"name": "Inbound — Cluster A", "kind": "mail_roundtrip"}
    return Monitor.objects.create(
        page=page, component=component, config={}, **{**defaults, **fields}
    )


@pytest.fixture
def inbound(page: Page, cluster_a: Component) -> Monitor:
    return make_monitor(page, cluster_a, public=True)


def points(monitor: Monitor, resolution: int | None = None) -> list[MetricPoint]:
    rows = MetricPoint.objects.filter(monitor=monitor).order_by("resolution", "name", "at")
    return list(rows if resolution is None else rows.filter(resolution=resolution))


def every_minute(monitor: Monitor, start: Any, minutes: int, value: Any = 4.0) -> None:
    for n in range(minutes):
        v = value(n) if callable(value) else value
        metrics.record_points(monitor, start + n * MINUTE, {"delivery_seconds": v})


# -- writing ---------------------------------------------------------------------------------


def test_it_stores_each_number_as_a_raw_point(inbound: Monitor) -> None:
    values = {
        "delivery_seconds": 4.2,
        "hops": 5,
        "nan": math.nan,
        "inf": math.inf,
        "flag": True,
        "text": "x",
    }
    metrics.record_points(inbound, NOW, values)
    stored = {
        (p.name, p.resolution, p.at, p.value, p.low, p.high, p.count) for p in points(inbound)
    }
    assert stored == {
        ("delivery_seconds", RAW, NOW, 4.2, 4.2, 4.2, 1),
        ("hops", RAW, NOW, 5.0, 5.0, 5.0, 1),
    }


# -- downsampling ----------------------------------------------------------------------------


def test_it_folds_raw_points_older_than_48_hours_into_5_minute_buckets(inbound: Monitor) -> None:
    old = NOW - timedelta(hours=50)  # 50 h ago: a whole hour on the hour
    every_minute(inbound, old, 10, lambda n: float(n))  # two 5-minute buckets: 0..4, 5..9
    every_minute(inbound, NOW - timedelta(hours=1), 3)
    report = metrics.downsample(NOW)
    assert report.folded[RAW] == 10
    buckets = [(p.at, p.value, p.low, p.high, p.count) for p in points(inbound, FIVE_MINUTES)]
    assert buckets == [(old, 2.0, 0.0, 4.0, 5), (old + 5 * MINUTE, 7.0, 5.0, 9.0, 5)]
    assert len(points(inbound, RAW)) == 3  # the last hour stays raw


def test_it_folds_only_buckets_that_have_wholly_aged(inbound: Monitor) -> None:
    edge = NOW - timedelta(hours=48) + 2 * MINUTE  # inside the bucket 12:00-12:05
    every_minute(inbound, edge - 7 * MINUTE, 9)  # 11:55 to 12:03
    metrics.downsample(NOW)
    assert [p.at.minute for p in points(inbound, RAW)] == [0, 1, 2, 3]  # not wholly aged
    assert [(p.at.minute, p.count) for p in points(inbound, FIVE_MINUTES)] == [(55, 5)]


def test_it_folds_5_minute_buckets_into_hours_after_14_days(inbound: Monitor) -> None:
    old = NOW - timedelta(days=15)
    every_minute(inbound, old, 120, lambda n: 10.0 if n < 60 else 20.0)
    metrics.downsample(NOW)
    hours = [(p.at, p.value, p.low, p.high, p.count) for p in points(inbound, HOURLY)]
    assert hours == [(old, 10.0, 10.0, 10.0, 60), (old + 60 * MINUTE, 20.0, 20.0, 20.0, 60)]
    assert points(inbound, RAW) == points(inbound, FIVE_MINUTES) == []


def test_it_deletes_points_after_90_days(inbound: Monitor) -> None:
    every_minute(inbound, NOW - timedelta(days=91), 60)
    every_minute(inbound, NOW - timedelta(days=89), 60)
    report = metrics.downsample(NOW)
    assert [p.at for p in points(inbound)] == [NOW - timedelta(days=89)]
    assert report.expired == 1


def test_it_is_idempotent_and_merges_late_points(inbound: Monitor) -> None:
    old = NOW - timedelta(hours=50)
    every_minute(inbound, old, 5, 2.0)
    metrics.downsample(NOW)
    first = [(p.at, p.value, p.count) for p in points(inbound)]
    metrics.downsample(NOW)
    metrics.downsample(NOW + timedelta(seconds=30))
    assert [(p.at, p.value, p.count) for p in points(inbound)] == first == [(old, 2.0, 5)]
    metrics.record_points(inbound, old + 30 * timedelta(seconds=1), {"delivery_seconds": 8.0})
    metrics.downsample(NOW)  # a late raw point joins its bucket instead of replacing it
    (bucket,) = points(inbound)
    assert (bucket.value, bucket.low, bucket.high, bucket.count) == (3.0, 2.0, 8.0, 6)


def test_it_keeps_each_monitor_and_value_apart(page: Page, inbound: Monitor) -> None:
    other = make_monitor(page, name="Inbound — Cluster B")
    old = NOW - timedelta(hours=50)
    metrics.record_points(inbound, old, {"delivery_seconds": 1.0, "hops": 5.0})
    metrics.record_points(other, old, {"delivery_seconds": 9.0})
    metrics.downsample(NOW)
    folded = {(p.monitor_id, p.name, p.value) for p in MetricPoint.objects.all()}
    assert folded == {
        (inbound.pk, "delivery_seconds", 1.0),
        (inbound.pk, "hops", 5.0),
        (other.pk, "delivery_seconds", 9.0),
    }


def test_it_prunes_probe_results_after_14_days(inbound: Monitor) -> None:
    for days in (20, 15, 13, 0):
        ProbeResult.objects.create(monitor=inbound, at=NOW - timedelta(days=days), verdict="ok")
    assert metrics.downsample(NOW).results == 2
    assert ProbeResult.objects.count() == 2


def test_it_allows_one_aggregate_per_bucket(inbound: Monitor) -> None:
    fields = {"monitor": inbound, "name": "x", "at": NOW, "value": 1, "low": 1, "high": 1}
    MetricPoint.objects.create(resolution=RAW, **fields)
    MetricPoint.objects.create(resolution=RAW, **fields)  # raw samples may share a moment
    MetricPoint.objects.create(resolution=FIVE_MINUTES, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        MetricPoint.objects.create(resolution=FIVE_MINUTES, **fields)


# -- reading ---------------------------------------------------------------------------------


def test_it_reads_the_finest_resolution_for_each_stretch(inbound: Monitor) -> None:
    every_minute(inbound, NOW - timedelta(days=20), 120, 30.0)  # will be hourly
    every_minute(inbound, NOW - timedelta(days=3), 10, 20.0)  # will be 5-minute
    every_minute(inbound, NOW - timedelta(hours=2), 3, 10.0)  # stays raw
    metrics.downsample(NOW)
    found = metrics.series(inbound, "delivery_seconds", NOW - timedelta(days=30), NOW)
    assert [s.value for s in found] == [30.0, 30.0, 20.0, 20.0, 10.0, 10.0, 10.0]
    assert found == sorted(found)
    later = metrics.series(inbound, "delivery_seconds", NOW - timedelta(days=4), NOW)
    assert [s.value for s in later] == [20.0, 20.0, 10.0, 10.0, 10.0]


def test_it_does_not_show_a_bucket_again_where_finer_points_begin(inbound: Monitor) -> None:
    start = NOW - timedelta(hours=1)
    MetricPoint.objects.create(
        monitor=inbound,
        name="delivery_seconds",
        resolution=FIVE_MINUTES,
        at=start - 5 * MINUTE,
        value=7,
        low=7,
        high=7,
        count=5,
    )
    MetricPoint.objects.create(
        monitor=inbound,
        name="delivery_seconds",
        resolution=FIVE_MINUTES,
        at=start,
        value=9,
        low=9,
        high=9,
        count=5,
    )
    every_minute(inbound, start, 5, 1.0)
    found = metrics.series(inbound, "delivery_seconds", NOW - timedelta(hours=2), NOW)
    assert [s.value for s in found] == [7.0, 1.0, 1.0, 1.0, 1.0, 1.0]


def test_it_draws_a_monitor_chart_for_the_console(inbound: Monitor) -> None:
    every_minute(inbound, NOW - timedelta(hours=3), 120, lambda n: 4.0 if n != 50 else 540.0)
    svg = metrics.monitor_chart_svg(inbound, hours=24, now=NOW)
    assert svg.startswith("<svg") and svg.count("<path") == 1
    assert (
        'aria-label="Inbound — Cluster A: delivery time, last 24 h: median 4 s, max 9 min"' in svg
    )
    assert "<line" in svg  # the 120 s slow threshold, reached by the 9-minute delivery
    hops = metrics.monitor_chart_svg(inbound, "hops", hours=6, now=NOW)
    assert "Inbound — Cluster A: hops, last 6 h: no data" in hops


# -- the public page -------------------------------------------------------------------------


def index(page: Page) -> bytes:
    return html.render(load_world(page, now=NOW))["/"][1]


def test_it_charts_public_monitors_under_their_component(
    page: Page, cluster_a: Component, inbound: Monitor
) -> None:
    every_minute(inbound, NOW - timedelta(hours=24), 24 * 60, lambda n: 4.0 + n % 3)
    hidden = make_monitor(page, cluster_a, name="Private probe", kind="http")
    metrics.record_points(hidden, NOW, {"latency_ms": 80.0})
    body = index(page)
    charts = [a for tag, a in read(body).tags if tag == "svg" and a.get("class") == "chart"]
    assert [a["aria-label"] for a in charts] == [
        "Inbound — Cluster A, delivery time, last 24 h: median 5 s, max 6 s"
    ]
    assert "Inbound — Cluster A delivery time, last 24 h" in text_of(body)
    assert "Private probe" not in body.decode()
    # under Cluster A's entry in its group, not somewhere else on the page
    member = body.decode().split(">Cluster A<", 1)[1].split("</li>", 1)[0]
    assert 'class="chart"' in member


def test_it_loads_the_charts_with_the_world_and_renders_without_queries(
    page: Page, inbound: Monitor, django_assert_num_queries: Any
) -> None:
    metrics.record_points(inbound, NOW - timedelta(hours=1), {"delivery_seconds": 3.0})
    world = load_world(page, now=NOW)
    with django_assert_num_queries(0):
        body = html.render(world)["/"][1]
    assert b'class="chart"' in body


def test_it_keeps_20_components_and_3_charts_under_50_kb(db: None) -> None:
    page = catalog.create_page(name="Tucows", time_zone="America/New_York")
    layout = {
        "Hosted Email": [f"Cluster {c}" for c in "ABCDEF"],
        "Domains": ["Registration", "Transfers", "Managed DNS", "WHOIS"],
        "SSL Certificates": ["Issuance", "Validation", "Reissue"],
        "Platform": ["Reseller API", "Control Panel", "Billing"],
        None: ["Website", "Webmail", "Support", "Notifications"],
    }
    for group_name, names in layout.items():
        group = catalog.create_group(page=page, name=group_name) if group_name else None
        for name in names:
            component = catalog.create_component(
                page=page,
                name=name,
                group=group,
                created_at=NOW - timedelta(days=365),
                description=f"{name}: what customers use it for, in a sentence.",
            )
            if name in ("Cluster A", "Cluster B", "Webmail"):
                monitor = make_monitor(page, component, name=f"Inbound — {name}", public=True)
                MetricPoint.objects.bulk_create(delivery_day(monitor))
    body = index(page)
    assert len(text_of(body).split(" uptime")) > 20
    assert body.count(b'class="chart"') == 3
    assert len(body) < 50_000, len(body)


def delivery_day(monitor: Monitor) -> list[MetricPoint]:
    """A day of mail round trips every minute: 3 to 8 s, a 40-minute delay of up to 9 min,
    and an hour the prober was down."""
    rows = []
    for n in range(24 * 60):
        if 600 <= n < 660:
            continue
        value = 3 + (n * 7919) % 50 / 10 + (540 - abs(n - 300) * 20 if abs(n - 300) < 20 else 0)
        rows.append(
            MetricPoint(
                monitor=monitor,
                name="delivery_seconds",
                at=NOW - n * MINUTE,
                value=value,
                low=value,
                high=value,
            )
        )
    return rows


def test_it_republishes_pages_with_charts_as_their_window_moves(
    page: Page, inbound: Monitor
) -> None:
    assert publish_page(page) is not None
    page.refresh_from_db()
    version, updated = page.version, page.updated_at
    assert refresh_public_charts(page.snapshots.get().built_at + MINUTE) == 0
    later = page.snapshots.get().built_at + timedelta(minutes=6)
    assert refresh_public_charts(later) == 1
    page.refresh_from_db()
    assert (page.version, page.updated_at) == (version + 1, updated)
    other = catalog.create_page(name="No charts")
    publish_page(other)
    assert refresh_public_charts(later) == 1  # only the page that has charts


# -- /metrics --------------------------------------------------------------------------------


def scrape(client: Client, **headers: Any) -> Any:
    return client.get("/metrics", **headers)


def families(text: str) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f for f in text_string_to_metric_families(text)}


def test_it_exports_every_monitor_for_prometheus(
    page: Page, cluster_a: Component, inbound: Monitor, client: Client
) -> None:
    inbound.last_verdict, inbound.last_run_at = "slow", NOW
    inbound.save()
    ProbeResult.objects.create(
        monitor=inbound, at=NOW, verdict="slow", values={"delivery_seconds": 540.0, "hops": 5}
    )
    down = make_monitor(
        page,
        cluster_a,
        name='Web "front"\\door\nA',
        kind="http",
        last_verdict="fail",
        last_run_at=NOW,
    )
    ProbeResult.objects.create(monitor=down, at=NOW, verdict="fail", values={"latency_ms": 250.0})
    make_monitor(page, None, name="Never ran", kind="tcp")
    answer = scrape(client)
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=0.0.4")
    found = families(answer.content.decode())
    base = {
        "monitor": "Inbound — Cluster A",
        "kind": "mail_roundtrip",
        "component": "Cluster A",
        "page": page.name,
    }
    up = {s.labels["monitor"]: s.value for s in found["heliograph_monitor_up"].samples}
    assert up == {"Inbound — Cluster A": 1.0, 'Web "front"\\door\nA': 0.0}
    verdicts = {
        (s.labels["monitor"], s.labels["verdict"]): s.value
        for s in found["heliograph_monitor_verdict"].samples
    }
    assert verdicts[("Inbound — Cluster A", "slow")] == 1.0
    assert sum(v for (m, _), v in verdicts.items() if m == "Inbound — Cluster A") == 1.0
    assert sum(v for (m, _), v in verdicts.items() if m == "Never ran") == 0.0
    latency = {
        s.labels["monitor"]: s.value for s in found["heliograph_monitor_latency_seconds"].samples
    }
    assert latency == {"Inbound — Cluster A": 540.0, 'Web "front"\\door\nA': 0.25}
    (stamp,) = [
        s
        for s in found["heliograph_monitor_last_run_timestamp_seconds"].samples
        if s.labels == base
    ]
    assert stamp.value == NOW.timestamp()
    values = {
        s.labels["name"]: s.value
        for s in found["heliograph_monitor_value"].samples
        if s.labels["monitor"] == "Inbound — Cluster A"
    }
    assert values == {"delivery_seconds": 540.0, "hops": 5.0}
    for family in found.values():
        assert family.type == "gauge" and family.documentation


def test_it_never_exports_secrets_or_config(page: Page, client: Client) -> None:
    imap = make_monitor(
        page,
        None,
        name="IMAP",
        secrets={"imap_password": "hunter2-secret"},
        last_verdict="unknown",
        last_reason="login failed for probe@example.com",
    )
    imap.config = {"imap_user": "probe@example.com"}
    imap.save()
    text = scrape(client).content.decode()
    assert "hunter2" not in text and "probe@example.com" not in text
    assert 'heliograph_monitor_up{monitor="IMAP"' in text  # unknown is the prober's fault


def test_it_lets_only_this_machine_read_metrics_without_a_token(
    client: Client, settings: Any, inbound: Monitor
) -> None:
    settings.HELIOGRAPH_METRICS_TOKEN = ""
    assert scrape(client).status_code == 200
    assert scrape(client, REMOTE_ADDR="::1").status_code == 200
    assert scrape(client, REMOTE_ADDR="203.0.113.9").status_code == 403
    # nginx on this machine relaying a visitor: the visitor's address counts
    assert scrape(client, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert scrape(client, HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200
    assert scrape(client, HTTP_FORWARDED="for=203.0.113.9").status_code == 403


def test_it_wants_the_bearer_token_when_one_is_set(
    client: Client, settings: Any, inbound: Monitor
) -> None:
    settings.HELIOGRAPH_METRICS_TOKEN = "s3cret-token"
    refused = scrape(client)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert "Inbound" not in refused.content.decode()
    assert scrape(client, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = scrape(client, REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert ok.status_code == 200 and b"heliograph_monitor_up" in ok.content
    assert client.post("/metrics").status_code == 405


def test_it_routes_metrics_past_the_snapshot_to_django() -> None:
    store = SnapshotStore()
    assert ReadPath(store, django_prefixes()).answer("GET", "/metrics", "", "") is None
