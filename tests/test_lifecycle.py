"""Incident rules: impact, status, impact windows and the duration a reader is shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
from heliograph.example import RESOLVED, TIMELINE
from heliograph.incidents.lifecycle import (
    IMPACTS,
    INCIDENT_STATUSES,
    UNRESOLVED,
    StatusStep,
    Window,
    claimed_duration,
    contradicts,
    current_status,
    impact_of,
    impact_windows,
    total_duration,
)

T0 = datetime(2021, 7, 8, 12, 0, tzinfo=UTC)
STATUS_RANK = [OPERATIONAL, MAINTENANCE, DEGRADED, PARTIAL, MAJOR]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- impact -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "impact"),
    [
        (OPERATIONAL, "none"),
        (MAINTENANCE, "none"),
        (DEGRADED, "minor"),
        (PARTIAL, "major"),
        (MAJOR, "critical"),
    ],
)
def test_it_derives_impact_from_one_component(status: str, impact: str) -> None:
    assert impact_of([status]) == impact


def test_it_has_no_impact_without_affected_components() -> None:
    assert impact_of([]) == "none"


@given(st.lists(st.sampled_from(COMPONENT_STATUSES)))
def test_it_takes_the_worst_component_impact(statuses: list[str]) -> None:
    singles = [impact_of([s]) for s in statuses]
    assert impact_of(statuses) == max(singles, key=IMPACTS.index, default="none")


@given(st.lists(st.sampled_from(COMPONENT_STATUSES)), st.sampled_from(IMPACTS))
def test_it_lets_a_responder_override_the_impact(statuses: list[str], override: str) -> None:
    assert impact_of(statuses, override) == override


def test_it_lets_an_override_lower_the_impact() -> None:
    assert impact_of([MAJOR], "minor") == "minor"
    assert impact_of([MAJOR], None) == "critical"
    assert impact_of([MAJOR], "") == "critical"


# --- status -------------------------------------------------------------------------------


def test_it_shows_the_latest_update_status() -> None:
    assert current_status(["investigating", "identified", "monitoring"]) == "monitoring"
    assert current_status(["investigating", "identified"], postmortem_published=True) == (
        "identified"
    )


def test_it_is_investigating_before_the_first_update() -> None:
    assert current_status([]) == "investigating"


def test_it_shows_postmortem_once_resolved_and_published() -> None:
    updates = ["investigating", "identified", "resolved"]
    assert current_status(updates) == "resolved"
    assert current_status(updates, postmortem_published=True) == "postmortem"


def test_it_shows_a_reopened_incident_as_open_despite_its_postmortem() -> None:
    updates = ["investigating", "resolved", "investigating"]
    assert current_status(updates, postmortem_published=True) == "investigating"


@given(st.lists(st.sampled_from(UNRESOLVED + ("resolved",)), min_size=1, max_size=8), st.booleans())
def test_it_follows_the_latest_update(updates: list[str], published: bool) -> None:
    status = current_status(updates, published)
    assert status in INCIDENT_STATUSES
    if published and updates[-1] == "resolved":
        assert status == "postmortem"
    else:
        assert status == updates[-1]


# --- impact windows -----------------------------------------------------------------------

# Timelines of a few components: each change at a distinct minute, so the order is total.
timelines = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=0, max_value=3000),
        st.sampled_from(COMPONENT_STATUSES),
    ),
    max_size=25,
    unique_by=lambda c: c[1],
).map(lambda rows: [StatusStep(component, at(m), status) for component, m, status in rows])


def status_of(changes: list[StatusStep], component: str, moment: datetime) -> str:
    """What the timeline says ``component`` was at ``moment`` (operational before any row)."""
    before = [c for c in changes if c.component == component and c.at <= moment]
    return max(before, key=lambda c: c.at).new_status if before else OPERATIONAL


def test_it_finds_both_windows_of_the_example() -> None:
    changes = [StatusStep("cluster-a", when, status) for when, status in TIMELINE]
    windows = impact_windows(changes)
    assert [(w.start, w.end, w.worst_status) for w in windows] == [
        (utc(2021, 7, 8, 15, 57), utc(2021, 7, 8, 16, 23), DEGRADED),
        (utc(2021, 7, 8, 18, 4), utc(2021, 7, 9, 17, 43), DEGRADED),
    ]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert total_duration(windows, now) == timedelta(hours=24, minutes=5)


def test_it_keeps_a_window_open_while_the_component_is_still_impaired() -> None:
    windows = impact_windows([StatusStep("a", at(0), MAJOR), StatusStep("a", at(10), PARTIAL)])
    assert windows == [Window("a", at(0), None, MAJOR)]
    assert total_duration(windows, now=at(90)) == timedelta(minutes=90)


def test_it_reads_the_timeline_in_time_order_whatever_the_input_order() -> None:
    changes = [
        StatusStep("a", at(30), OPERATIONAL),
        StatusStep("b", at(5), DEGRADED),
        StatusStep("a", at(0), PARTIAL),
        StatusStep("b", at(50), OPERATIONAL),
        StatusStep("a", at(40), MAJOR),
    ]
    assert impact_windows(changes) == [
        Window("a", at(0), at(30), PARTIAL),
        Window("b", at(5), at(50), DEGRADED),
        Window("a", at(40), None, MAJOR),
    ]


def test_it_ignores_an_operational_change_outside_any_window() -> None:
    assert impact_windows([StatusStep("a", at(0), OPERATIONAL)]) == []


@given(timelines, st.randoms(use_true_random=False))
def test_it_finds_the_same_windows_for_shuffled_input(changes: list[StatusStep], rnd) -> None:
    shuffled = list(changes)
    rnd.shuffle(shuffled)
    assert impact_windows(shuffled) == impact_windows(changes)


@given(timelines)
def test_it_covers_exactly_the_time_a_component_was_not_operational(
    changes: list[StatusStep],
) -> None:
    windows = impact_windows(changes)
    assert windows == sorted(windows, key=lambda w: (w.start, w.component))
    for component in ("a", "b", "c"):
        mine = [w for w in windows if w.component == component]
        # Windows of one component never overlap; only the last one may be open.
        for earlier, later in zip(mine, mine[1:], strict=False):
            assert earlier.end is not None and earlier.end <= later.start
        # Sample every minute (changes fall on whole minutes).
        for minute in range(-1, 3002):
            moment = at(minute)
            inside = [w for w in mine if w.start <= moment and (w.end is None or moment < w.end)]
            assert len(inside) == (status_of(changes, component, moment) != OPERATIONAL)
        for window in mine:
            seen = [
                c.new_status
                for c in changes
                if c.component == component
                and window.start <= c.at
                and (window.end is None or c.at < window.end)
            ]
            assert window.worst_status == max(seen, key=STATUS_RANK.index)


# --- total duration -----------------------------------------------------------------------

NOW_MINUTE = 2000
window_lists = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=0, max_value=NOW_MINUTE),
        st.one_of(st.none(), st.integers(min_value=1, max_value=600)),
    ),
    max_size=12,
).map(
    lambda rows: [
        Window(c, at(start), None if length is None else at(start + length), DEGRADED)
        for c, start, length in rows
    ]
)


def span_end(window: Window) -> datetime:
    return window.end or at(NOW_MINUTE)


@given(window_lists)
def test_it_counts_overlapping_time_once(windows: list[Window]) -> None:
    covered = {
        minute
        for w in windows
        for minute in range(
            int((w.start - T0).total_seconds() // 60), int((span_end(w) - T0).total_seconds() // 60)
        )
    }
    assert total_duration(windows, now=at(NOW_MINUTE)) == timedelta(minutes=len(covered))


@given(window_lists.filter(bool))
def test_it_stays_between_the_longest_window_and_the_whole_span(windows: list[Window]) -> None:
    total = total_duration(windows, now=at(NOW_MINUTE))
    first = min(w.start for w in windows)
    last = max(span_end(w) for w in windows)
    assert total <= last - first
    assert total >= max(span_end(w) - w.start for w in windows)


@given(st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=8), st.data())
def test_it_adds_up_disjoint_windows(lengths: list[int], data) -> None:
    windows, cursor = [], 0
    for n, length in enumerate(lengths):
        cursor += data.draw(st.integers(min_value=0, max_value=120))
        windows.append(Window("abc"[n % 3], at(cursor), at(cursor + length), MAJOR))
        cursor += length
    shuffled = data.draw(st.permutations(windows))
    assert total_duration(shuffled, now=at(cursor + 1000)) == timedelta(minutes=sum(lengths))


def test_it_counts_every_window_of_a_reopened_incident() -> None:
    changes = [
        StatusStep("a", at(0), MAJOR),
        StatusStep("a", at(26), OPERATIONAL),  # resolved
        StatusStep("a", at(127), DEGRADED),  # recurred
        StatusStep("b", at(130), PARTIAL),
        StatusStep("b", at(200), OPERATIONAL),
        StatusStep("a", at(1546), OPERATIONAL),  # resolved again
    ]
    windows = impact_windows(changes)
    assert len(windows) == 3
    assert total_duration(windows, now=at(5000)) == timedelta(minutes=26 + 1546 - 127)


def test_it_has_no_duration_without_windows() -> None:
    assert total_duration([], now=T0) == timedelta()


# --- claimed durations --------------------------------------------------------------------


def test_it_reads_the_duration_the_example_claims() -> None:
    assert claimed_duration(RESOLVED) == timedelta(minutes=26)
    assert claimed_duration("Total Duration:26 minutes") == timedelta(minutes=26)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("Total duration: 45 min", 45),
        ("Duration - 2 hours", 120),
        ("duration=1 hour", 60),
        ("Total Duration: 1.5 hrs", 90),
        ("Total Duration: 2 days", 2 * 24 * 60),
        ("Total Duration: 1 hour 30 minutes", 90),
        ("Total Duration: 24 h 5 min", 24 * 60 + 5),
        ("Duration: 1 d 2 h", 26 * 60),
        ("Total Duration: 2h 5m.", 125),
        ("Total Duration: 1 hour and 30 minutes; root cause: rspam", 90),
    ],
)
def test_it_reads_durations_written_in_common_ways(text: str, minutes: float) -> None:
    assert claimed_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    "text",
    [
        "We are investigating inbound mail delays.",
        "Incident Start Time: 07-08-2021 15:57:00\nIncident End Time:07-08-2021 16:23:00",
        "",
    ],
)
def test_it_finds_no_claim_where_none_is_made(text: str) -> None:
    assert claimed_duration(text) is None


def test_it_flags_the_example_claim_as_contradicting_the_timeline() -> None:
    recorded = timedelta(hours=24, minutes=5)
    assert contradicts(timedelta(minutes=26), recorded)
    assert not contradicts(recorded, recorded)


@given(st.integers(min_value=0, max_value=100_000), st.integers(min_value=-60, max_value=60))
def test_it_accepts_a_claim_within_a_minute(recorded_s: int, off_s: int) -> None:
    recorded = timedelta(seconds=recorded_s)
    claim = max(timedelta(), recorded + timedelta(seconds=off_s))
    assert not contradicts(claim, recorded)


@given(st.integers(min_value=0, max_value=100_000), st.booleans())
def test_it_flags_a_claim_off_by_more_than_a_minute_and_five_percent(
    recorded_s: int, longer: bool
) -> None:
    recorded = timedelta(seconds=recorded_s)
    off = max(timedelta(seconds=61), recorded * 0.06)
    if not longer and off > recorded:
        longer = True
    claim = recorded + off if longer else recorded - off
    assert contradicts(claim, recorded)
