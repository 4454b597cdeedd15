"""What automation tells customers, and how often: texts from the page's templates, titles
on the worst state, one update per settled change of severity."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import MAJOR, OPERATIONAL, PARTIAL
from heliograph.incidents.models import Incident, IncidentTemplate, IncidentUpdate
from heliograph.monitors import pacing, wording
from heliograph.monitors.automation import Outcome, apply_result
from heliograph.monitors.models import Monitor
from heliograph.monitors.probes.base import Result

T0 = datetime(2026, 7, 8, 15, 57, tzinfo=UTC)
RESULTS = {
    "ok": Result("ok", "delivered in 4 s", values={"delivery_seconds": 4.0}),
    "slow": Result("slow", "delivered in 187 s, slow (≥ 120 s)", {"delivery_seconds": 187.0}),
    "loop": Result(
        "slow",
        "delivered in 1.2 s; 9 Received hops, more than the healthy 4 + 2",
        values={"delivery_seconds": 1.2, "hops": 9.0},
        details={"noticed": "loop", "message_id": "<hgp-1@probe.test>"},
    ),
    "fail": Result("fail", "SMTP 127.0.0.1:2525: the connection was refused"),
}
SEVERITIES = st.sampled_from(pacing.SEVERITY)
EFFECTS = st.sampled_from(["", "Inbound mail:slow", "Inbound mail:loop"])
MOMENTS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 2, 1))
SPANS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=1))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def mx(page: Page, component: Component, name: str) -> Monitor:
    return Monitor.objects.create(
        page=page,
        name=name,
        kind="smtp",
        component=component,
        automation="publish",
        created_at=at(-60),
    )


def feed(monitor: Monitor, samples: Iterable[str], start: float, every: float = 1) -> Outcome:
    outcome = None
    for i, sample in enumerate(samples):
        result = RESULTS[sample]
        outcome = apply_result(monitor=monitor, result=result, now=at(start + i * every))
    assert outcome is not None
    return outcome


def bodies(incident: Incident) -> list[str]:
    return list(
        incident.updates.order_by("display_at", "created_at").values_list("body", flat=True)
    )


def told(page: Page) -> int:
    """Updates posted: each one notifies subscribers (these moments are in the past, where
    posting notifies nobody; tests/test_monitor_mail_lab.py counts real notifications)."""
    found = IncidentUpdate.objects.filter(incident__page=page, incident__started_at__gte=T0)
    return found.count()


# --- the rule -------------------------------------------------------------------------------


@given(SEVERITIES, EFFECTS, MOMENTS, SPANS)
def test_it_never_repeats_what_was_said(
    status: str, effect: str, said_at: datetime, wait: timedelta
) -> None:
    said = pacing.Said(status, effect, said_at)
    seen = pacing.Seen(status, effect, said_at)
    assert not pacing.due(said, seen, said_at + wait)


@given(SEVERITIES, SEVERITIES, EFFECTS, MOMENTS, SPANS)
def test_it_says_a_change_of_severity_once_it_settles_and_two_levels_at_once(
    said_status: str, seen_status: str, effect: str, since: datetime, wait: timedelta
) -> None:
    said = pacing.Said(said_status, effect, since - timedelta(minutes=1))
    seen = pacing.Seen(seen_status, effect, since)
    due = pacing.due(said, seen, since + wait)
    if pacing.rank(seen_status) - pacing.rank(said_status) >= 2:
        assert due
    elif seen_status != said_status:
        assert due == (wait >= pacing.SETTLE)


@given(SEVERITIES, MOMENTS, SPANS, SPANS)
def test_it_says_a_new_effect_at_the_same_severity_at_most_once_per_gap(
    status: str, said_at: datetime, after: timedelta, wait: timedelta
) -> None:
    said = pacing.Said(status, "Inbound mail:slow", said_at)
    seen = pacing.Seen(status, "Inbound mail:loop", said_at + after)
    now = said_at + after + wait
    assert pacing.due(said, seen, now) == (wait >= pacing.SETTLE and now - said_at >= pacing.GAP)


# --- fewer, better notices ------------------------------------------------------------------


def test_a_partial_outage_right_after_a_delay_is_one_update_once_it_settles(
    page: Page, cluster_a: Component
) -> None:
    mx1, mx2 = mx(page, cluster_a, "MX 1"), mx(page, cluster_a, "MX 2")
    feed(mx2, ["ok"], 0)
    incident = feed(mx1, ["slow", "slow"], 0).incident
    assert incident is not None and told(page) == 1
    # Ten seconds later MX 1 is down: the page shows it at once, subscribers wait.
    feed(mx1, ["fail", "fail", "fail"], 1 + 1 / 6, every=1 / 60)
    cluster_a.refresh_from_db()
    assert cluster_a.status == PARTIAL and told(page) == 1
    feed(mx1, ["fail"], 2.5)
    assert told(page) == 1  # not settled yet
    feed(mx1, ["fail"], 3.5)
    assert told(page) == 2
    incident.refresh_from_db()
    assert incident.name == "Partial inbound mail outage — Cluster A"
    assert bodies(incident)[-1] == (
        "Since 11:58 AM EDT (15:58 UTC), some inbound mail to Cluster A is not being "
        "delivered; senders' servers retry, so those messages arrive late rather than "
        "being lost. We are working on it."
    )
    feed(mx1, ["fail"] * 5, 4.5)
    assert told(page) == 2  # nothing new to say


def test_every_path_failing_at_once_is_said_at_once(page: Page, cluster_a: Component) -> None:
    monitor = mx(page, cluster_a, "MX")
    incident = feed(monitor, ["slow", "slow"], 0).incident
    assert incident is not None
    feed(monitor, ["fail", "fail", "fail"], 2)  # degraded → major outage: two levels
    cluster_a.refresh_from_db()
    assert (cluster_a.status, told(page)) == (MAJOR, 2)
    incident.refresh_from_db()
    assert incident.name == "Inbound mail outage — Cluster A"
    assert incident.impact == "critical"


def test_a_new_effect_at_the_same_severity_waits_for_the_gap(
    page: Page, cluster_a: Component
) -> None:
    monitor = mx(page, cluster_a, "Round trip")
    monitor.kind = "mail_roundtrip"
    monitor.save()
    incident = feed(monitor, ["slow", "slow"], 0).incident  # said at minute 1
    assert incident is not None
    feed(monitor, ["loop"] * 5, 2)  # a loop instead of a delay, minutes 2–6
    assert told(page) == 1
    feed(monitor, ["loop"] * 5, 7)  # minute 11: ten minutes since the last update
    assert told(page) == 2
    assert "arrives late or more than once while it is processed" in bodies(incident)[-1]
    assert "hops" not in bodies(incident)[-1] and "@" not in bodies(incident)[-1]


def test_recovery_and_resolution_go_out_when_they_happen_without_no_op_changes(
    page: Page, cluster_a: Component
) -> None:
    monitor = mx(page, cluster_a, "MX")
    incident = feed(monitor, ["slow", "slow"], 0).incident
    assert incident is not None
    feed(monitor, ["ok", "ok", "ok"], 2)
    feed(monitor, ["ok"], 4 + 15)
    incident.refresh_from_db()
    assert (incident.status, told(page)) == ("resolved", 3)
    monitoring, resolved = incident.updates.order_by("display_at")[1:]
    assert monitoring.body == (
        "Cluster A has been working normally since 12:01 PM EDT (16:01 UTC). "
        "We are monitoring the result."
    )
    assert [c["new_status"] for c in monitoring.affected_components] == [OPERATIONAL]
    assert resolved.affected_components == []  # not "operational → operational"


# --- texts admins can edit ------------------------------------------------------------------


def test_it_writes_from_the_pages_templates_that_admins_edit(
    page: Page, cluster_a: Component
) -> None:
    opened = wording.template(page, wording.OPENED)
    opened.title = "Mail trouble on {component}"
    opened.body = "{component}: {effect} (since {since}). Typo kept: {oops} {"
    opened.save()
    incident = feed(mx(page, cluster_a, "MX"), ["slow", "slow"], 0).incident
    assert incident is not None
    assert incident.name == "Mail trouble on Cluster A"
    assert bodies(incident) == [
        "Cluster A: inbound mail to Cluster A is delayed by about 3 minutes "
        "(since 11:58 AM EDT (15:58 UTC)). Typo kept: {oops} {"
    ]
    names = set(IncidentTemplate.objects.filter(page=page).values_list("name", flat=True))
    assert "Automatic: opened" in names


def test_a_title_a_person_gave_stays(page: Page, cluster_a: Component) -> None:
    monitor = mx(page, cluster_a, "MX")
    incident = feed(monitor, ["slow", "slow"], 0).incident
    assert incident is not None
    Incident.objects.filter(pk=incident.pk).update(name="Mail delays for some customers")
    feed(monitor, ["fail", "fail", "fail"], 2)
    incident.refresh_from_db()
    assert incident.name == "Mail delays for some customers"
