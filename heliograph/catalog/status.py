"""Component statuses and how they blend into a page status (Statuspage's rules).

Plain module, no Django: the rules are tested directly with hypothesis.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

OPERATIONAL = "operational"
DEGRADED = "degraded_performance"
PARTIAL = "partial_outage"
MAJOR = "major_outage"
MAINTENANCE = "under_maintenance"

COMPONENT_STATUSES = (OPERATIONAL, DEGRADED, PARTIAL, MAJOR, MAINTENANCE)
COMPONENT_STATUS_LABELS = {
    OPERATIONAL: "Operational",
    DEGRADED: "Degraded Performance",
    PARTIAL: "Partial Outage",
    MAJOR: "Major Outage",
    MAINTENANCE: "Under Maintenance",
}

# Least to most severe. Maintenance sits between operational and degraded, as in the page
# indicator below: a planned window outranks "operational" but never hides degraded
# performance or an outage (as Cachet 3 blends them).
SEVERITY = (OPERATIONAL, MAINTENANCE, DEGRADED, PARTIAL, MAJOR)

Indicator = Literal["none", "minor", "major", "critical", "maintenance"]


class PageStatus(NamedTuple):
    indicator: Indicator
    description: str


ALL_OPERATIONAL = PageStatus("none", "All Systems Operational")


def blend(statuses: Iterable[str]) -> PageStatus:
    """The page status for the statuses of its (non-group) components."""
    given = list(statuses)
    if not given:
        return ALL_OPERATIONAL
    count = {status: given.count(status) for status in COMPONENT_STATUSES}
    total = len(given)
    if count[MAJOR] == total:
        return PageStatus("critical", "Major System Outage")
    if count[MAJOR] or count[PARTIAL] == total:
        return PageStatus("major", "Partial System Outage")
    if count[PARTIAL]:
        return PageStatus("minor", "Minor Service Outage")
    if count[DEGRADED] == total:
        return PageStatus("minor", "Degraded System Service")
    if count[DEGRADED]:
        return PageStatus("minor", "Partially Degraded Service")
    if count[MAINTENANCE]:
        return PageStatus("maintenance", "Service Under Maintenance")
    return ALL_OPERATIONAL


def worst(statuses: Iterable[str]) -> str:
    """The most severe of the statuses (operational for none)."""
    return max(statuses, key=SEVERITY.index, default=OPERATIONAL)


def during_maintenance(status: str) -> str:
    """What a component shows while a maintenance window holds it, given the status its
    incidents, monitors or people hold it at: the worse of that and under maintenance."""
    return worst((status, MAINTENANCE))
