"""How component statuses blend into the page status (architecture: Pure rules), as a reader sees
it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from heliograph.catalog.status import (
    COMPONENT_STATUSES,
    DEGRADED,
    MAINTENANCE,
    MAJOR,
    OPERATIONAL,
    PARTIAL,
    blend,
    during_maintenance,
)
from heliograph.catalog.status import worst as worst_of

INDICATOR_RANK = ["none", "maintenance", "minor", "major", "critical"]
# How bad a single component status is. Maintenance sits between operational and
# degraded: the table shows "maintenance" only when nothing is degraded or worse.
STATUS_RANK = [OPERATIONAL, MAINTENANCE, DEGRADED, PARTIAL, MAJOR]
DESCRIPTIONS = {
    "All Systems Operational": "none",
    "Partially Degraded Service": "minor",
    "Degraded System Service": "minor",
    "Minor Service Outage": "minor",
    "Partial System Outage": "major",
    "Major System Outage": "critical",
    "Service Under Maintenance": "maintenance",
}

statuses = st.sampled_from(COMPONENT_STATUSES)
pages = st.lists(statuses, max_size=12)


def with_at_least_one(required: str, others: list[str]) -> st.SearchStrategy[list[str]]:
    """Component lists holding ``required`` at least once, the rest drawn from ``others``."""
    return st.tuples(
        st.lists(st.just(required), min_size=1, max_size=4), st.lists(st.sampled_from(others))
    ).flatmap(lambda parts: st.permutations(parts[0] + parts[1]))


def mixed(required: str, others: list[str]) -> st.SearchStrategy[list[str]]:
    """At least one ``required`` and at least one component in another status."""
    return st.tuples(
        st.lists(st.just(required), min_size=1, max_size=4),
        st.lists(st.sampled_from(others), min_size=1, max_size=6),
    ).flatmap(lambda parts: st.permutations(parts[0] + parts[1]))


def test_it_says_all_systems_operational_for_an_empty_page() -> None:
    assert blend([]) == ("none", "All Systems Operational")


@given(st.integers(min_value=1, max_value=20))
def test_it_says_all_systems_operational_when_everything_is_operational(n: int) -> None:
    assert blend([OPERATIONAL] * n) == ("none", "All Systems Operational")


@given(with_at_least_one(MAINTENANCE, [OPERATIONAL]))
def test_it_shows_maintenance_when_nothing_is_worse(given_statuses: list[str]) -> None:
    assert blend(given_statuses) == ("maintenance", "Service Under Maintenance")


@given(mixed(DEGRADED, [OPERATIONAL, MAINTENANCE]))
def test_it_says_partially_degraded_when_some_are_degraded(given_statuses: list[str]) -> None:
    assert blend(given_statuses) == ("minor", "Partially Degraded Service")


@given(st.integers(min_value=1, max_value=20))
def test_it_says_degraded_system_service_when_all_are_degraded(n: int) -> None:
    assert blend([DEGRADED] * n) == ("minor", "Degraded System Service")


@given(mixed(PARTIAL, [OPERATIONAL, MAINTENANCE, DEGRADED]))
def test_it_says_minor_service_outage_when_some_are_partially_out(
    given_statuses: list[str],
) -> None:
    assert blend(given_statuses) == ("minor", "Minor Service Outage")


@given(st.integers(min_value=1, max_value=20))
def test_it_says_partial_system_outage_when_all_are_partially_out(n: int) -> None:
    assert blend([PARTIAL] * n) == ("major", "Partial System Outage")


@given(mixed(MAJOR, [OPERATIONAL, MAINTENANCE, DEGRADED, PARTIAL]))
def test_it_says_partial_system_outage_when_some_but_not_all_are_down(
    given_statuses: list[str],
) -> None:
    assert blend(given_statuses) == ("major", "Partial System Outage")


@given(st.integers(min_value=1, max_value=20))
def test_it_says_major_system_outage_when_everything_is_down(n: int) -> None:
    assert blend([MAJOR] * n) == ("critical", "Major System Outage")


def test_it_lets_a_single_component_decide_the_page() -> None:
    assert blend([OPERATIONAL]).indicator == "none"
    assert blend([MAINTENANCE]).indicator == "maintenance"
    assert blend([DEGRADED]) == ("minor", "Degraded System Service")
    assert blend([PARTIAL]) == ("major", "Partial System Outage")
    assert blend([MAJOR]) == ("critical", "Major System Outage")


def test_it_hides_maintenance_behind_any_real_impact() -> None:
    assert blend([MAINTENANCE, DEGRADED]).indicator == "minor"
    assert blend([MAINTENANCE, PARTIAL]).indicator == "minor"
    assert blend([MAINTENANCE, MAJOR]).indicator == "major"
    # A component leaving an outage for maintenance is an improvement the page shows.
    assert blend([MAINTENANCE, MAINTENANCE]).indicator == "maintenance"


@given(pages)
def test_it_only_ever_says_one_of_the_statuspage_descriptions(given_statuses: list[str]) -> None:
    indicator, description = blend(given_statuses)
    assert DESCRIPTIONS[description] == indicator


@given(pages, st.randoms(use_true_random=False))
def test_it_does_not_depend_on_component_order(given_statuses: list[str], rnd) -> None:
    shuffled = list(given_statuses)
    rnd.shuffle(shuffled)
    assert blend(shuffled) == blend(given_statuses)


@given(pages)
def test_it_is_never_calmer_than_the_worst_component(given_statuses: list[str]) -> None:
    floor = {OPERATIONAL: "none", MAINTENANCE: "maintenance", DEGRADED: "minor"}
    floor |= {PARTIAL: "minor", MAJOR: "major"}
    worst = max(given_statuses, key=STATUS_RANK.index, default=OPERATIONAL)
    rank = INDICATOR_RANK.index(blend(given_statuses).indicator)
    assert rank >= INDICATOR_RANK.index(floor[worst])
    if worst == OPERATIONAL:
        assert blend(given_statuses).indicator == "none"


@given(pages.filter(bool), st.data())
def test_it_never_improves_when_one_component_gets_worse(given_statuses: list[str], data) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(given_statuses) - 1))
    current = STATUS_RANK.index(given_statuses[index])
    worse = data.draw(st.sampled_from(STATUS_RANK[current:]))
    after = list(given_statuses)
    after[index] = worse
    before_rank = INDICATOR_RANK.index(blend(given_statuses).indicator)
    after_rank = INDICATOR_RANK.index(blend(after).indicator)
    assert after_rank >= before_rank, (given_statuses, after)


# --- a maintenance window over what holds a component (docs/architecture.md) ----------------

IMPAIRED = [DEGRADED, PARTIAL, MAJOR]


@given(statuses)
def test_it_never_hides_degraded_performance_or_an_outage_behind_a_maintenance(
    status: str,
) -> None:
    assert during_maintenance(status) == (status if status in IMPAIRED else MAINTENANCE)


@given(st.lists(st.tuples(statuses, st.booleans()), max_size=12))
def test_it_reads_a_page_no_calmer_for_its_maintenance_windows(
    held: list[tuple[str, bool]],
) -> None:
    """Components under a window show the worse of it and their own status; once anything
    is degraded or worse, the page reads exactly as it would without any window."""
    own = [status for status, _ in held]
    shown = [during_maintenance(status) if window else status for status, window in held]
    if any(status in IMPAIRED for status in own):
        assert blend(shown) == blend(own)
    else:
        under = any(window for _, window in held) or MAINTENANCE in own
        assert blend(shown).indicator == ("maintenance" if under else "none")


@given(pages)
def test_it_finds_the_worst_status_whatever_the_order(given_statuses: list[str]) -> None:
    found = worst_of(given_statuses)
    assert found == worst_of(reversed(given_statuses))
    assert found == max(given_statuses, key=STATUS_RANK.index, default=OPERATIONAL)
