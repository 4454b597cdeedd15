"""The example world: OpenSRS's "Cluster A - Inbound Delays" report (PR-2142).

Times are the report's own; the component timeline is the one its postmortem describes,
so the page can show what really happened next to what the updates claimed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.db import transaction

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Page
from heliograph.catalog.status import DEGRADED, OPERATIONAL
from heliograph.incidents import services as incidents

PAGE_NAME = "OpenSRS"
INCIDENT_NAME = "Cluster A - Inbound Delays"
REFERENCE = "PR-2142"

INVESTIGATING = (
    "We are currently experiencing inbound mail delays on Cluster A. Our engineering team is "
    "investigating the issue.\n\nWe will provide an update once we have additional information."
)
IDENTIFIED = (
    "Our Engineering team has identified that this issue was caused due to a system change. "
    "They have rolled back the change to its previous state and are currently monitoring to "
    "confirm recoveries."
)
RESOLVED = (
    "Our engineering team has correctly identified the cause of the delays to be attributed to "
    "a recent update made to the hosted email system. The changes were reverted and after "
    "monitoring the result we see message delivery back to normal performance.\n\n"
    "Incident Start Time: 07-08-2021 15:57:00\n"
    "Incident End Time:07-08-2021 16:23:00\n"
    "Total Duration:26 minutes"
)
POSTMORTEM = """\
Incident Date: July 8, 2021
Incident Number: PR-2142

On July 8, 2021 at 11:57 AM ET, Tucows’ hosted email platform experienced service \
interruption causing inbound and outbound email delays for Prod A. Tucows’ Engineering team \
was engaged to investigate the issue.

The service interruption was due to execution of a planned maintenance that caused a rspam \
email processing loop.

At 12:23 PM ET, the Engineering team reverted the change and started monitoring the issue. \
Since no further errors were observed, the incident was marked resolved.

At 2:04 PM ET, we noticed further impact to outbound emails in Prod A. At 3:00 PM ET, the \
engineering team added additional resources on rspam to handle the high load on the system.

On July 9, 2021 at 1:43 PM ET, The engineering team was able to successfully revert the \
changes to the legacy system and restore the services.

Tucows is committed to implementing preventive measures by further deploying new \
configuration to ensure better email processing, enhancing monitoring and change management \
processes for better visibility, QA validation and faster recovery.

Thank you,

Tucows Engineering Team"""


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# Cluster A's timeline from the postmortem (ET = UTC-4 in July).
TIMELINE = [
    (utc(2021, 7, 8, 15, 57), DEGRADED),  # 11:57 AM ET: delays begin
    (utc(2021, 7, 8, 16, 23), OPERATIONAL),  # 12:23 PM ET: change reverted
    (utc(2021, 7, 8, 18, 4), DEGRADED),  # 2:04 PM ET: impact returns
    (utc(2021, 7, 9, 17, 43), OPERATIONAL),  # Jul 9, 1:43 PM ET: services restored
]


@transaction.atomic
def load_example() -> Page:
    """Create the example page and incident, unless they are already there."""
    existing = Page.objects.filter(name=PAGE_NAME).first()
    if existing:
        return existing
    page = catalog.create_page(
        name=PAGE_NAME, time_zone="America/New_York", url="https://opensrs.com"
    )
    group = catalog.create_group(page=page, name="Hosted Email")
    cluster_a = catalog.create_component(
        page=page,
        name="Cluster A",
        group=group,
        start_date=date(2021, 1, 1),
        created_at=utc(2021, 1, 1),
        description="Inbound and outbound mail for customers hosted on Cluster A (Prod A).",
    )
    incident = incidents.open_incident(
        page=page,
        name=INCIDENT_NAME,
        body=INVESTIGATING,
        reference=REFERENCE,
        at=utc(2021, 7, 8, 16, 4),
        started_at=TIMELINE[0][0],
        backfilled=True,
        components={cluster_a: DEGRADED},
    )
    for at, status in TIMELINE:
        incidents.record_impact(incident=incident, component=cluster_a, status=status, at=at)
    incidents.post_update(
        incident=incident, status="identified", body=IDENTIFIED, at=utc(2021, 7, 8, 16, 50)
    )
    incidents.post_update(
        incident=incident, status="resolved", body=RESOLVED, at=utc(2021, 7, 8, 17, 28)
    )
    incidents.publish_postmortem(incident=incident, body=POSTMORTEM, at=utc(2021, 7, 21, 20, 20))
    return page
