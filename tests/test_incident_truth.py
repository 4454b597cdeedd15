"""Truth checks (architecture: Truth of the record): what an update's text claims against the
recorded timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED, OPERATIONAL
from heliograph.example import RESOLVED
from heliograph.incidents import services as incidents
from heliograph.incidents import truth
from heliograph.incidents.causes import spoken
from heliograph.incidents.lifecycle import Window
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from tests.support.state import full_state

NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- over the example ----------------------------------------------------------------------


def test_it_warns_that_the_examples_resolved_text_contradicts_the_record(
    incident: Incident,
) -> None:
    before = full_state()
    warnings = incidents.check_update_text(incident=incident, body=RESOLVED, status="resolved")
    assert full_state() == before
    assert warnings == [
        "The text states a duration of 26 minutes; the recorded impact windows add up to "
        "1 day 5 minutes.",
        "The text says the incident ended at 07-08-2021 16:23:00; the recorded impact lasted "
        "until Jul 09, 2021 1:43 PM EDT (17:43 UTC).",
    ]


def test_it_accepts_a_text_that_matches_the_record(incident: Incident) -> None:
    body = (
        "Incident Start Time: 07-08-2021 11:57 AM ET\n"
        "Incident End Time: 07-09-2021 17:43:00\n"
        "Total Duration: 1 day 5 minutes"
    )
    assert incidents.check_update_text(incident=incident, body=body, status="resolved") == []


def test_it_warns_about_a_wrong_start_time(incident: Incident) -> None:
    warnings = incidents.check_update_text(
        incident=incident, body="Impact began at 10:30 AM ET.", status="resolved"
    )
    assert warnings == [
        "The text says the incident started at 10:30 AM ET; the recorded impact began at "
        "Jul 08, 2021 11:57 AM EDT (15:57 UTC)."
    ]


def test_it_warns_when_resolving_while_a_component_is_impaired(
    page: Page, cluster_a: Component
) -> None:
    opened = incidents.open_incident(
        page=page, name="Delays", body="b", at=utc(2024, 1, 1, 10), components={cluster_a: DEGRADED}
    )
    warnings = incidents.check_update_text(incident=opened, body="Fixed.", status="resolved")
    assert warnings == [
        "This update resolves the incident while still not operational: "
        "Hosted Email (Cluster A) (degraded_performance)."
    ]
    assert (
        incidents.check_update_text(
            incident=opened, body="Fixed.", status="resolved", components={cluster_a: OPERATIONAL}
        )
        == []
    )
    assert (
        incidents.check_update_text(incident=opened, body="Still on it.", status="identified") == []
    )


def test_it_checks_the_duration_as_if_the_update_were_posted(
    page: Page, cluster_a: Component
) -> None:
    opened = incidents.open_incident(
        page=page, name="Delays", body="b", at=utc(2024, 1, 1, 10), components={cluster_a: DEGRADED}
    )
    closing = {cluster_a: OPERATIONAL}
    at = utc(2024, 1, 1, 10, 45)
    fine = incidents.check_update_text(
        incident=opened,
        body="Total duration: 45 minutes",
        status="resolved",
        at=at,
        components=closing,
    )
    assert fine == []
    wrong = incidents.check_update_text(
        incident=opened,
        body="Total duration: 20 minutes",
        status="resolved",
        at=at,
        components=closing,
    )
    assert wrong == [
        "The text states a duration of 20 minutes; the recorded impact windows add up to "
        "45 minutes."
    ]


def test_it_refuses_to_check_an_impossible_update(incident: Incident) -> None:
    with pytest.raises(InputError, match="unknown incident status 'done'"):
        incidents.check_update_text(incident=incident, body="b", status="done")


# --- the plain rules -----------------------------------------------------------------------


def test_it_reads_the_times_an_update_states() -> None:
    stated = truth.stated_times(RESOLVED + "\nService restored at 2:04 PM ET.")
    assert [(s.kind, s.written, s.days, s.hour, s.minute, s.zone) for s in stated] == [
        ("start", "07-08-2021 15:57:00", ((2021, 7, 8), (2021, 8, 7)), 15, 57, None),
        ("end", "07-08-2021 16:23:00", ((2021, 7, 8), (2021, 8, 7)), 16, 23, None),
        ("end", "2:04 PM ET", (), 14, 4, "America/New_York"),
    ]
    assert truth.stated_times("Started: 2021-07-08T15:57 UTC")[0].days == ((2021, 7, 8),)
    assert truth.stated_times("It was resolved. We ended the call.") == []
    assert truth.stated_times("Ended at 25:70") == []
    assert truth.stated_times("Ended at 13:05 PM") == []
    assert truth.stated_times("Start time: 31-31-2021 10:00") == []


def test_it_reads_twelve_oclock_right() -> None:
    assert [
        (s.hour, s.minute) for s in truth.stated_times("began at 12:05 AM, ended 12:10 pm")
    ] == [
        (0, 5),
        (12, 10),
    ]


@given(
    actual=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    offset=st.integers(min_value=-600, max_value=600),
)
def test_it_accepts_a_time_in_utc_only_within_a_minute(actual: datetime, offset: int) -> None:
    actual = actual.replace(tzinfo=UTC, second=0, microsecond=0)
    stated = actual + timedelta(minutes=offset)
    [claim] = truth.stated_times(f"Incident End Time: {stated:%Y-%m-%d %H:%M} UTC")
    assert truth.fits(claim, actual, NEW_YORK) == (abs(offset) <= 1)


@given(
    actual=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    zone=st.sampled_from(["America/New_York", "Europe/Paris", "Asia/Tokyo"]),
    offset=st.integers(min_value=-600, max_value=600),
)
def test_it_reads_a_time_without_a_zone_in_the_page_zone_or_utc(
    actual: datetime, zone: str, offset: int
) -> None:
    actual = actual.replace(tzinfo=UTC, second=0, microsecond=0)
    local = (actual + timedelta(minutes=offset)).astimezone(ZoneInfo(zone))
    assume(local.replace(fold=0).astimezone(UTC) == local.astimezone(UTC))  # not a DST repeat
    [claim] = truth.stated_times(f"Incident End Time: {local:%Y-%m-%d %H:%M}")
    as_utc = abs(local.replace(tzinfo=UTC) - actual) <= timedelta(minutes=1)
    assert truth.fits(claim, actual, ZoneInfo(zone)) == (abs(offset) <= 1 or as_utc)


@given(
    claim=st.integers(min_value=1, max_value=3000),
    recorded=st.integers(min_value=1, max_value=3000),
)
def test_it_flags_a_duration_only_when_it_is_off(claim: int, recorded: int) -> None:
    start = utc(2024, 1, 1)
    windows = [Window("c", start, start + timedelta(minutes=recorded), DEGRADED)]
    warnings = truth.check(
        text=f"Total Duration: {claim} minutes",
        status="monitoring",
        windows=windows,
        started_at=start,
        now=utc(2025, 1, 1),
        zone=NEW_YORK,
        impaired={},
    )
    tolerance = max(1.0, recorded * 0.05)
    assert bool(warnings) == (abs(claim - recorded) > tolerance)
    if warnings:
        assert f"duration of {spoken(timedelta(minutes=claim))};" in warnings[0]


def test_it_says_when_impact_is_still_ongoing() -> None:
    start = utc(2024, 1, 1)
    windows = [Window("c", start, None, DEGRADED)]
    warnings = truth.check(
        text="Total Duration: 5 minutes\nEnd time: 10:00",
        status="monitoring",
        windows=windows,
        started_at=start,
        now=start + timedelta(hours=2),
        zone=NEW_YORK,
        impaired={},
    )
    assert warnings == [
        "The text states a duration of 5 minutes; the recorded impact windows add up to "
        "2 hours so far, and impact is ongoing.",
        "The text says the incident ended at 10:00; impact is still ongoing.",
    ]
