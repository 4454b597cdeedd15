"""Uptime per component per day, as the 90-day bars and their figures show it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heliograph.catalog.status import (
    COMPONENT_STATUSES,
    DEGRADED,
    MAINTENANCE,
    MAJOR,
    OPERATIONAL,
    PARTIAL,
)
from heliograph.catalog.uptime import (
    UptimePolicy,
    daily_uptime,
    merge_days,
    merged_daily_uptime,
    overall,
    overall_uptime,
)

NEW_YORK = ZoneInfo("America/New_York")
DEFAULT = UptimePolicy()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def one_day(timeline, day=date(2021, 7, 8), policy=DEFAULT, zone=UTC, since=None, now=None):
    """Uptime of ``day`` for a component that existed long before and after it."""
    (result,) = daily_uptime(
        timeline=timeline,
        since=since or utc(2021, 1, 1),
        now=now or utc(2022, 1, 1),
        days=[day],
        zone=zone,
        policy=policy,
    )
    return result


def test_it_shows_full_uptime_when_all_is_operational() -> None:
    result = one_day([])
    assert result.uptime == 1.0
    assert result.observed == timedelta(hours=24)
    assert result.worst_status == OPERATIONAL


def test_it_shows_zero_for_a_full_day_of_major_outage() -> None:
    timeline = [(utc(2021, 7, 7, 23), MAJOR), (utc(2021, 7, 9, 1), OPERATIONAL)]
    result = one_day(timeline)
    assert result.uptime == 0.0
    assert result.worst_status == MAJOR


def test_it_counts_a_partial_outage_at_three_tenths_by_default() -> None:
    timeline = [(utc(2021, 7, 8), PARTIAL), (utc(2021, 7, 9), OPERATIONAL)]
    assert one_day(timeline).uptime == pytest.approx(0.7)
    half = [(utc(2021, 7, 8, 12), PARTIAL), (utc(2021, 7, 9), OPERATIONAL)]
    assert one_day(half).uptime == pytest.approx(0.85)


def test_it_follows_the_page_policy() -> None:
    timeline = [(utc(2021, 7, 8), DEGRADED), (utc(2021, 7, 8, 12), PARTIAL)]
    assert one_day(timeline).uptime == pytest.approx(1 - 0.5 * 0.3)
    strict = UptimePolicy(partial_weight=1.0, degraded_weight=0.5)
    assert one_day(timeline, policy=strict).uptime == pytest.approx(1 - 0.25 - 0.5)


def test_it_does_not_count_maintenance_unless_the_page_says_so() -> None:
    timeline = [(utc(2021, 7, 8, 6), MAINTENANCE), (utc(2021, 7, 8, 12), OPERATIONAL)]
    assert one_day(timeline).uptime == 1.0
    assert one_day(timeline).worst_status == MAINTENANCE
    counted = UptimePolicy(maintenance_counts=True)
    assert one_day(timeline, policy=counted).uptime == pytest.approx(0.75)


def test_it_shows_the_example_day_in_the_page_zone() -> None:
    """Cluster A on July 8 in New York: degraded 26 min, then from 2:04 PM to midnight."""
    from heliograph.example import TIMELINE

    by_weight = UptimePolicy(degraded_weight=1.0)
    jul8 = one_day(TIMELINE, zone=NEW_YORK, policy=by_weight)
    lost = timedelta(minutes=26) + timedelta(hours=9, minutes=56)
    assert jul8.uptime == pytest.approx(1 - lost / timedelta(hours=24))
    jul9 = one_day(TIMELINE, day=date(2021, 7, 9), zone=NEW_YORK, policy=by_weight)
    assert jul9.uptime == pytest.approx(1 - timedelta(hours=13, minutes=43) / timedelta(hours=24))
    assert one_day(TIMELINE, zone=NEW_YORK).uptime == 1.0  # degraded weighs 0 by default


def test_it_leaves_days_before_the_component_began_and_after_now_blank() -> None:
    result = daily_uptime(
        timeline=[],
        since=utc(2021, 7, 8, 18),
        now=utc(2021, 7, 10, 6),
        days=days_between(date(2021, 7, 6), date(2021, 7, 12)),
        zone=UTC,
        policy=DEFAULT,
    )
    assert [d.uptime for d in result] == [None, None, 1.0, 1.0, 1.0, None, None]
    assert [d.observed for d in result][2:5] == [
        timedelta(hours=6),
        timedelta(hours=24),
        timedelta(hours=6),
    ]


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2021, 3, 14), 23), (date(2021, 11, 7), 25), (date(2021, 7, 8), 24)],
)
def test_it_observes_dst_days_for_their_real_length(day: date, hours: int) -> None:
    result = one_day([], day=day, zone=NEW_YORK)
    assert result.observed == timedelta(hours=hours)
    assert result.uptime == 1.0


def test_it_weighs_an_outage_on_a_short_dst_day_by_its_real_length() -> None:
    # 2021-03-14 in New York has 23 hours; a 23-hour major outage is the whole day.
    start = datetime(2021, 3, 14, tzinfo=NEW_YORK)
    end = datetime(2021, 3, 15, tzinfo=NEW_YORK)
    timeline = [(start.astimezone(UTC), MAJOR), (end.astimezone(UTC), OPERATIONAL)]
    assert one_day(timeline, day=date(2021, 3, 14), zone=NEW_YORK).uptime == 0.0
    # On the 25-hour day, five hours of outage are a fifth of it.
    fall = datetime(2021, 11, 7, tzinfo=NEW_YORK).astimezone(UTC)
    timeline = [(fall, MAJOR), (fall + timedelta(hours=5), OPERATIONAL)]
    assert one_day(timeline, day=date(2021, 11, 7), zone=NEW_YORK).uptime == pytest.approx(0.8)


def test_it_has_no_overall_figure_without_observed_time() -> None:
    assert overall([]) is None
    blank = daily_uptime(
        timeline=[],
        since=utc(2021, 7, 9),
        now=utc(2021, 7, 20),
        days=[date(2021, 7, 1)],
        zone=UTC,
        policy=DEFAULT,
    )
    assert overall(blank) is None


def test_it_weighs_overall_uptime_by_observed_time() -> None:
    # Day 1: 6 observed hours, all down. Day 2: 24 hours, all up.
    result = daily_uptime(
        timeline=[(utc(2021, 7, 9), OPERATIONAL)],
        since=utc(2021, 7, 8, 18),
        now=utc(2021, 7, 10),
        days=[date(2021, 7, 8), date(2021, 7, 9)],
        zone=UTC,
        policy=DEFAULT,
        initial_status=MAJOR,
    )
    assert [d.uptime for d in result] == [0.0, 1.0]
    assert overall(result) == pytest.approx(24 / 30)


# --- properties ---------------------------------------------------------------------------

# Each zone with a start a day or two before one of its DST changes (and two without DST).
ZONE_STARTS = [
    ("America/New_York", utc(2021, 3, 12)), ("America/New_York", utc(2021, 11, 5)),
    ("Europe/Paris", utc(2021, 3, 26)), ("Europe/Paris", utc(2021, 10, 29)),
    ("Australia/Lord_Howe", utc(2021, 4, 2)), ("Australia/Lord_Howe", utc(2021, 10, 1)),
    ("America/Santiago", utc(2021, 4, 2)), ("America/Santiago", utc(2021, 9, 3)),
    ("Pacific/Chatham", utc(2021, 4, 2)), ("Pacific/Chatham", utc(2021, 9, 24)),
    ("Asia/Kolkata", utc(2021, 3, 12)), ("UTC", utc(2021, 3, 12)),
]  # fmt: skip
HORIZON_MIN = 60 * 24 * 6  # six days, in minutes

scenarios = st.fixed_dictionaries(
    {
        "zone_start": st.sampled_from(ZONE_STARTS),
        "since": st.integers(min_value=0, max_value=HORIZON_MIN // 2),
        "length": st.integers(min_value=1, max_value=HORIZON_MIN // 2),
        "initial": st.sampled_from(COMPONENT_STATUSES),
        "changes": st.lists(
            st.tuples(
                st.integers(min_value=-600, max_value=HORIZON_MIN + 600),
                st.sampled_from(COMPONENT_STATUSES),
            ),
            max_size=8,
            unique_by=lambda c: c[0],
        ),
        "policy": st.builds(
            UptimePolicy,
            major_weight=st.floats(0, 1),
            partial_weight=st.floats(0, 1),
            degraded_weight=st.floats(0, 1),
            maintenance_counts=st.booleans(),
        ),
    }
)


def run(scenario, policy=None):
    """Daily uptime over every day the scenario touches, plus the day before and after."""
    zone, start = ZoneInfo(scenario["zone_start"][0]), scenario["zone_start"][1]
    since = start + timedelta(minutes=scenario["since"])
    now = since + timedelta(minutes=scenario["length"])
    timeline = sorted((start + timedelta(minutes=m), s) for m, s in scenario["changes"])
    days = days_between(
        since.astimezone(zone).date() - timedelta(days=1),
        now.astimezone(zone).date() + timedelta(days=1),
    )
    result = daily_uptime(
        timeline=timeline,
        since=since,
        now=now,
        days=days,
        zone=zone,
        policy=policy or scenario["policy"],
        initial_status=scenario["initial"],
    )
    return since, now, timeline, result


@given(scenarios)
def test_it_keeps_every_figure_between_zero_and_one(scenario) -> None:
    _, _, _, result = run(scenario)
    for day in result:
        assert day.uptime is None or 0.0 <= day.uptime <= 1.0
    total = overall(result)
    assert total is not None and 0.0 <= total <= 1.0


@given(scenarios)
def test_it_observes_exactly_the_time_between_since_and_now(scenario) -> None:
    since, now, _, result = run(scenario)
    assert sum((d.observed for d in result), timedelta()) == now - since
    assert result[0].uptime is None and result[-1].uptime is None
    for day in result:
        zone = ZoneInfo(scenario["zone_start"][0])
        start = datetime.combine(day.day, datetime.min.time(), zone)
        end = datetime.combine(day.day + timedelta(days=1), datetime.min.time(), zone)
        assert day.observed <= end.astimezone(UTC) - start.astimezone(UTC)
        assert (day.uptime is None) == (day.observed == timedelta())


@given(scenarios)
def test_it_loses_exactly_the_time_spent_in_major_outage(scenario) -> None:
    """Downtime summed over the days equals the major outage on the timeline itself."""
    since, now, timeline, result = run(scenario, policy=UptimePolicy(partial_weight=0.0))
    # The status at each moment: ``initial`` from ``since``, then each later change.
    points = [(since, scenario["initial"])] + [(t, s) for t, s in timeline if since < t < now]
    ends = [t for t, _ in points[1:]] + [now]
    down = sum(
        (
            (end - start)
            for (start, status), end in zip(points, ends, strict=True)
            if status == MAJOR
        ),
        timedelta(),
    )
    lost = sum(d.observed.total_seconds() * (1 - d.uptime) for d in result if d.uptime is not None)
    assert lost == pytest.approx(down.total_seconds(), abs=1e-3)


@given(scenarios)
def test_it_shows_full_uptime_when_nothing_counts_as_down(scenario) -> None:
    lenient = UptimePolicy(major_weight=0.0, partial_weight=0.0)
    _, _, _, result = run(scenario, policy=lenient)
    assert all(d.uptime in (None, 1.0) for d in result)
    assert overall(result) == 1.0


@given(scenarios)
def test_it_never_rises_when_a_status_counts_more(scenario) -> None:
    lighter = UptimePolicy(partial_weight=0.3, degraded_weight=0.0)
    heavier = UptimePolicy(partial_weight=0.6, degraded_weight=0.2)
    _, _, _, light = run(scenario, policy=lighter)
    _, _, _, heavy = run(scenario, policy=heavier)
    for a, b in zip(light, heavy, strict=True):
        assert (a.uptime is None) == (b.uptime is None)
        if a.uptime is not None:
            assert b.uptime <= a.uptime + 1e-12


@given(st.lists(scenarios, min_size=1, max_size=4), st.integers(min_value=0, max_value=3))
def test_it_adds_a_groups_members_up_day_by_day_however_far_the_clock_has_moved(
    members, extra_days
) -> None:
    """A group's bars are its members' days added together, the days already over worked
    out once: asking again later gives what working it all out again would."""
    zone, start = ZoneInfo(members[0]["zone_start"][0]), members[0]["zone_start"][1]
    columns = [
        (
            tuple(sorted((start + timedelta(minutes=m), s) for m, s in member["changes"])),
            start + timedelta(minutes=member["since"]),
            member["initial"],
        )
        for member in members
    ]
    days = days_between(start.date() - timedelta(days=1), start.date() + timedelta(days=8))
    policy = members[0]["policy"]
    for hours in (30, 30 + 24 * extra_days, 30 + 24 * extra_days + 7):
        now = start + timedelta(hours=hours)
        each = [
            daily_uptime(
                timeline=t,
                since=since,
                now=now,
                days=days,
                zone=zone,
                policy=policy,
                initial_status=first,
            )
            for t, since, first in columns
        ]
        merged = merged_daily_uptime(columns=columns, now=now, days=days, zone=zone, policy=policy)
        assert merged == merge_days(each)
        assert sum((d.observed for d in merged), timedelta()) == sum(
            (d.observed for column in each for d in column), timedelta()
        )


@given(scenarios, st.integers(min_value=0, max_value=3))
def test_it_gives_a_components_overall_figure_as_its_days_add_up(scenario, extra_days) -> None:
    """The figure beside a component: the days already over summed once, then today."""
    since, now, timeline, _ = run(scenario)
    zone = ZoneInfo(scenario["zone_start"][0])
    column = (tuple(timeline), since, scenario["initial"])
    days = days_between(
        since.astimezone(zone).date(), since.astimezone(zone).date() + timedelta(days=6)
    )
    for later in (now, now + timedelta(days=extra_days, hours=5)):
        result = daily_uptime(
            timeline=timeline,
            since=since,
            now=later,
            days=days,
            zone=zone,
            policy=scenario["policy"],
            initial_status=scenario["initial"],
        )
        figure = overall_uptime(
            column=column, now=later, days=days, zone=zone, policy=scenario["policy"]
        )
        expected = overall(result)
        assert figure == (None if expected is None else pytest.approx(expected, abs=1e-9))
