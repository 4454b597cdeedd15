"""History quarters: which page lists an incident, and which pages link to which."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from heliograph.publish import quarters

NEW_YORK = ZoneInfo("America/New_York")
keys = st.builds(lambda y, q: f"{y}-q{q}", st.integers(2010, 2030), st.integers(1, 4))


def test_it_files_an_incident_under_the_quarter_it_started_in_locally() -> None:
    # 02:30 UTC on October 1st is still September 30th in New York.
    moment = datetime(2021, 10, 1, 2, 30, tzinfo=UTC)
    assert quarters.quarter_of(moment, NEW_YORK) == "2021-q3"
    assert quarters.quarter_of(moment, ZoneInfo("UTC")) == "2021-q4"
    assert quarters.label("2021-q3") == "July – September 2021"
    assert quarters.path("2021-q3") == "/history/2021-q3"


@given(st.sets(keys), keys)
def test_history_shows_the_newest_quarter_with_incidents_up_to_now(
    present: set[str], current: str
) -> None:
    shown = quarters.latest(present, current)
    past = {k for k in present if k <= current}
    assert shown == (max(past) if past else current)  # upcoming work is not history yet


@given(st.sets(keys), keys)
def test_neighbours_are_the_nearest_quarters_with_incidents(present: set[str], key: str) -> None:
    older, newer = quarters.neighbours(present, key)
    assert older is None or (older in present and older < key)
    assert newer is None or (newer in present and newer > key)
    assert not any((older or "") < k < key for k in present)
    assert not any(key < k < (newer or "9999") for k in present)


@given(st.sets(keys), st.sets(keys))
def test_only_pages_whose_links_change_are_rendered_again(
    before: set[str], after: set[str]
) -> None:
    changed = quarters.changed_neighbours(before, after)
    for key in after:
        same = key in before and quarters.neighbours(before, key) == quarters.neighbours(after, key)
        assert (key in changed) != same
