"""Generated status pages for bench/scale: a busy provider's page after ten years.

``build_page`` writes one page with bulk inserts: groups and components, incidents with
3-5 updates each (markdown bodies, investigating → identified → monitoring → resolved,
spread over hours), their affected components and the matching component timeline
(StatusChange rows: a non-operational status at the first update, operational at the
resolution), completed maintenances (about 10 %), published postmortems (a few percent)
and, optionally, one incident still open now. Every field the app would compute is set as
the services would set it (status, impact, started_at, resolved_at, updated_at), and the
page version is bumped at the end so the publisher publishes it.

Needs Django set up on the target database; used only by bench/scale.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

BATCH = 2000
YEAR = timedelta(days=365.25)
AREAS = (
    "API", "Dashboard", "Hosted Email", "DNS", "CDN", "Object Storage", "Block Storage",
    "Compute", "Kubernetes", "Databases", "Load Balancers", "Networking", "Billing",
    "Authentication", "Webhooks", "Search", "Analytics", "Messaging", "Backups", "Support",
    "Logging", "Monitoring", "Registry", "Marketplace",
)  # fmt: skip
PARTS = (
    "eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1", "ap-northeast-1",
    "sa-east-1", "ca-central-1", "Control plane", "Web UI", "Public API", "Workers",
)  # fmt: skip
SYMPTOMS = (
    "Elevated error rates on {c}", "Increased latency for {c}", "{c} unavailable",
    "Delays processing requests on {c}", "Degraded performance of {c}",
    "Intermittent timeouts on {c}", "Partial outage of {c}", "Login failures affecting {c}",
)  # fmt: skip
SCRIPTS = {  # update statuses, oldest first
    3: (("investigating", "identified", "resolved"), ("investigating", "monitoring", "resolved")),
    4: (("investigating", "identified", "monitoring", "resolved"),),
    5: (
        ("investigating", "investigating", "identified", "monitoring", "resolved"),
        ("investigating", "identified", "identified", "monitoring", "resolved"),
    ),
}
SENTENCES = {
    "investigating": (
        "We are investigating reports of **{symptom}** for customers using {c}.",
        "Our on-call engineers were paged at {hh} UTC and are looking into it.",
        "Some requests may fail with `503 Service Unavailable`; retries are likely to succeed.",
        "Customers in {region} are most affected; other regions are operating normally.",
        "If you are affected, please do not open a support ticket: this page is updated as "
        "we learn more.",
        "We will post an update within the next {n} minutes.",
    ),
    "identified": (
        "The issue has been identified: a {cause} on {c}.",
        "We are rolling back the change and expect recovery within {n} minutes.",
        "- Requests queued since {hh} UTC will be processed\n- No data has been lost",
        "Affected traffic has been drained from {region}.",
        "See our [status runbook](https://docs.example.com/status/{n}) for what to expect.",
    ),
    "monitoring": (
        "A fix has been deployed and error rates on {c} are back to normal levels.",
        "We are monitoring the results and the backlog of about {n},000 requests.",
        "Latency in {region} is recovering; some customers may still see slow responses.",
        "Requests that failed during the incident can be retried safely; no action is needed.",
    ),
    "resolved": (
        "This incident has been resolved. {c} is operating normally.",
        "The root cause was a {cause}; a **postmortem** will follow for affected customers.",
        "While the incident lasted, about {n} % of requests to {c} were affected.",
        "We apologise for the inconvenience and thank you for your patience.",
    ),
}
CAUSES = (
    "configuration change", "failed database failover", "certificate rotation",
    "exhausted connection pool", "faulty network switch", "deploy with a memory leak",
    "DNS misconfiguration", "saturated storage volume",
)  # fmt: skip
IMPAIRED = (("degraded_performance", 45), ("partial_outage", 35), ("major_outage", 20))
IMPACT = {"degraded_performance": "minor", "partial_outage": "major", "major_outage": "critical"}
SEVERITY = [status for status, _ in IMPAIRED]


@dataclass(frozen=True)
class Shape:
    """How big a generated page is; ``unresolved`` incidents stay open at the end (0-1)."""

    components: int = 200
    groups: int = 20
    incidents: int = 12_000
    years: float = 10.0
    maintenance_share: float = 0.10
    postmortem_share: float = 0.03
    unresolved: int = 1


@dataclass
class Plan:
    """One incident or maintenance, with its updates and component timeline, unsaved."""

    incident: Any
    updates: list[Any] = field(default_factory=list)
    components: list[Any] = field(default_factory=list)
    changes: list[tuple[Any, datetime, str, str]] = field(default_factory=list)
    postmortem: Any = None


def build_page(
    shape: Shape,
    *,
    name: str,
    now: datetime,
    rng: random.Random,
    domain: str = "",
    time_zone: str = "UTC",
) -> Any:
    """Write one generated page and return it (version bumped, ready to publish)."""
    from django.db import transaction
    from heliograph.catalog import services as catalog

    with transaction.atomic():
        page = catalog.create_page(name=name, time_zone=time_zone, domain=domain, actor="bench")
        components = make_catalog(page, shape, now - shape.years * YEAR - timedelta(days=1))
        plans = plan_history(page, components, shape, now, rng)
        save(components, plans)
        catalog.bump_version(page)
    page.refresh_from_db()
    return page


def make_catalog(page: Any, shape: Shape, since: datetime) -> list[Any]:
    """``shape.groups`` groups holding ``shape.components`` components between them."""
    from heliograph.catalog.models import Component, ComponentGroup

    groups = [
        ComponentGroup(
            page=page,
            name=_nth(AREAS, n),
            position=n + 1,
            created_at=since,
            updated_at=since,
            description=f"Everything behind {_nth(AREAS, n)}.",
        )
        for n in range(max(shape.groups, 1))
    ]
    ComponentGroup.objects.bulk_create(groups)
    return [
        Component(
            page=page,
            group=groups[n % len(groups)],
            name=_component_name(groups, n),
            position=n + 1,
            created_at=since,
            updated_at=since,
            start_date=since.date(),
        )
        for n in range(shape.components)
    ]


def _component_name(groups: list[Any], n: int) -> str:
    return f"{groups[n % len(groups)].name} {_nth(PARTS, n // len(groups))}"


def _nth(names: tuple[str, ...], n: int) -> str:
    return names[n % len(names)] + (f" {n // len(names) + 1}" if n >= len(names) else "")


# -- planning ------------------------------------------------------------------------------


def plan_history(
    page: Any, components: list[Any], shape: Shape, now: datetime, rng: random.Random
) -> list[Plan]:
    """Every event over the years before ``now``, oldest first; the open one last."""
    span = shape.years * YEAR.total_seconds()
    closed = shape.incidents - min(shape.unresolved, 1, shape.incidents)
    last_start = now - timedelta(days=2)  # everything closed ends well before now
    starts = sorted(last_start - timedelta(seconds=rng.random() * span) for _ in range(closed))
    free_at: dict[str, datetime] = {}
    plans = []
    for start in starts:
        picked = _pick(components, free_at, start, rng)
        if rng.random() < shape.maintenance_share:
            plan = plan_maintenance(page, picked, start, rng)
        else:
            plan = plan_incident(page, picked, start, rng, now, shape.postmortem_share)
        for component in picked:
            free_at[component.pk] = plan.changes[-1][1]
        plans.append(plan)
    if closed < shape.incidents:
        start = now - timedelta(minutes=40)
        plans.append(plan_incident(page, _pick(components, free_at, start, rng), start, rng))
    return plans


def _pick(
    components: list[Any], free_at: dict[str, datetime], at: datetime, rng: random.Random
) -> list[Any]:
    """1-3 components with nothing else going on at ``at`` (so timelines do not overlap)."""
    wanted = rng.choice((1, 1, 1, 2, 2, 3))
    picked: list[Any] = []
    for _ in range(20):
        candidate = rng.choice(components)
        if candidate not in picked and free_at.get(candidate.pk, at) <= at:
            picked.append(candidate)
            if len(picked) == wanted:
                break
    return picked or [rng.choice(components)]


def plan_incident(
    page: Any,
    components: list[Any],
    start: datetime,
    rng: random.Random,
    now: datetime | None = None,
    postmortem_share: float = 0.0,
) -> Plan:
    """A resolved incident (``now`` given) or one still open 40 minutes in (``now`` None)."""
    from heliograph.incidents.models import Incident

    statuses = rng.choice(SCRIPTS[rng.choice((3, 4, 4, 5))])
    hurt = {c: _weighted(rng, IMPAIRED) for c in components}
    name = rng.choice(SYMPTOMS).format(c=components[0].name)
    if now is None:  # open: the first two updates so far, over 40 minutes
        statuses, minutes = statuses[:2], [0.0, 25.0]
    else:
        total = min(max(rng.lognormvariate(4.6, 0.9), 15.0), 36 * 60.0)  # median ~100 min
        minutes = [0.0, *sorted(rng.uniform(5, total - 5) for _ in statuses[2:]), total]
    times = [start + timedelta(minutes=m) for m in minutes]
    worst = max(hurt.values(), key=SEVERITY.index)
    incident = Incident(
        page=page,
        kind="incident",
        name=name,
        status=statuses[-1],
        impact=IMPACT[worst],
        created_at=start,
        updated_at=times[-1],
        started_at=start,
        monitoring_at=times[-1] if statuses[-1] == "monitoring" else None,
        resolved_at=times[-1] if statuses[-1] == "resolved" else None,
    )
    plan = Plan(incident, components=components)
    for n, (status, at) in enumerate(zip(statuses, times, strict=True)):
        moves = _moves(hurt, n, len(statuses), status)
        body = _body(status, name, components[0].name, at, rng)
        plan.updates.append(_update(incident, status, at, body, moves))
        plan.changes += [(c, at, new, "update") for c, (_, new) in moves.items()]
    # Postmortems follow the worse half of incidents (partial and major outages).
    if now is not None and worst != SEVERITY[0] and rng.random() < postmortem_share * 2:
        _add_postmortem(plan, name, times[-1] + timedelta(days=rng.uniform(2, 14)), now, rng)
    return plan


def _moves(hurt: dict[Any, str], n: int, count: int, status: str) -> dict[Any, tuple[str, str]]:
    """Component (old, new) statuses an update applies: impaired first, operational at the end."""
    if n == 0:
        return {c: ("operational", s) for c, s in hurt.items()}
    if n == count - 1 and status == "resolved":
        return {c: (s, "operational") for c, s in hurt.items()}
    return {}


def plan_maintenance(page: Any, components: list[Any], start: datetime, rng: random.Random) -> Plan:
    """A completed window at night, announced days before; components under maintenance."""
    from heliograph.incidents.models import Incident

    begin = start.replace(hour=rng.choice((1, 2, 3, 22, 23)), minute=0, second=0, microsecond=0)
    end = begin + timedelta(hours=rng.choice((1, 2, 2, 3, 4)))
    announced = begin - timedelta(days=rng.uniform(3, 14), minutes=rng.uniform(0, 600))
    what = components[0].name
    incident = Incident(
        page=page,
        kind="maintenance",
        name=f"Scheduled maintenance of {what}",
        status="completed",
        impact="maintenance",
        created_at=announced,
        updated_at=end,
        started_at=begin,
        resolved_at=end,
        scheduled_for=begin,
        scheduled_until=end,
    )
    plan = Plan(incident, components=components)
    body = (
        f"We will upgrade **{what}** between {begin:%H:%M} and {end:%H:%M} UTC. "
        "During the window, requests may be slower and some may be retried.\n\n"
        f"- Affected: {', '.join(c.name for c in components)}\n- Expected impact: none"
    )
    under = {c: ("operational", "under_maintenance") for c in components}
    back = {c: ("under_maintenance", "operational") for c in components}
    for status, at, text, moves in (
        ("scheduled", announced, body, {}),
        ("in_progress", begin, "Scheduled maintenance is currently in progress.", under),
        ("completed", end, "The scheduled maintenance has been completed.", back),
    ):
        plan.updates.append(_update(incident, status, at, text, moves))
        plan.changes += [(c, at, new, "maintenance") for c, (_, new) in moves.items()]
    return plan


def _update(
    incident: Any, status: str, at: datetime, body: str, moves: dict[Any, tuple[str, str]]
) -> Any:
    from heliograph.incidents.models import IncidentUpdate

    affected = [
        {"code": c.pk, "name": c.name, "old_status": old, "new_status": new}
        for c, (old, new) in moves.items()
    ]
    return IncidentUpdate(
        incident=incident,
        status=status,
        body=body,
        display_at=at,
        created_at=at,
        updated_at=at,
        affected_components=affected,
    )


def _add_postmortem(plan: Plan, name: str, at: datetime, now: datetime, rng: random.Random) -> None:
    from heliograph.incidents.models import Postmortem

    if at >= now:
        return
    plan.incident.status, plan.incident.updated_at = "postmortem", at
    plan.postmortem = Postmortem(
        incident=plan.incident,
        body=_postmortem_body(plan, name, rng),
        published_at=at,
        updated_at=at,
    )
    plan.postmortem.body_draft = plan.postmortem.body


def _postmortem_body(plan: Plan, name: str, rng: random.Random) -> str:
    first, last = plan.updates[0].display_at, plan.updates[-1].display_at
    timeline = "\n".join(
        f"- **{u.display_at:%H:%M} UTC**: {u.status}: {u.body.split('.')[0]}." for u in plan.updates
    )
    cause = rng.choice(CAUSES)
    return (
        f"## Summary\n\nOn {first:%B %d, %Y}, {name.lower()} from {first:%H:%M} to "
        f"{last:%H:%M} UTC. The cause was a {cause}.\n\n## Timeline\n\n{timeline}\n\n"
        f"## Root cause\n\nA {cause} left "
        f"{', '.join(c.name for c in plan.components)} without enough capacity. Our alerts "
        "fired within minutes, but the runbook did not cover this failure mode, so the "
        "rollback took longer than it should have.\n\n## What we are changing\n\n"
        "1. Canary every configuration change in one region first.\n"
        "2. Alert on saturation, not only on errors.\n"
        "3. Practise this failover every quarter.\n"
    )


def _body(status: str, name: str, component: str, at: datetime, rng: random.Random) -> str:
    """A few hundred characters of markdown, varied per incident."""
    pool = SENTENCES[status]
    picked = sorted(rng.sample(range(1, len(pool)), k=min(len(pool) - 1, rng.randint(2, 4))))
    chosen = [pool[0], *(pool[n] for n in picked)]  # the headline first, then in order
    values = dict(
        symptom=name.lower(),
        c=component,
        hh=f"{at:%H:%M}",
        n=rng.randint(10, 60),
        region=rng.choice(PARTS[:8]),
        cause=rng.choice(CAUSES),
    )
    return "\n\n".join(sentence.format(**values) for sentence in chosen)


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


# -- writing ---------------------------------------------------------------------------------


def save(components: list[Any], plans: list[Plan]) -> None:
    """Everything in bulk: components (with their final status), incidents, updates,
    affected components, the timeline (old statuses chained per component), postmortems."""
    from heliograph.catalog.models import Component, StatusChange
    from heliograph.incidents.models import Incident, IncidentUpdate, Postmortem

    changes = timeline(plans)
    for component in components:
        rows = changes.get(component.pk)
        component.status = rows[-1].new_status if rows else "operational"
    Component.objects.bulk_create(components, batch_size=BATCH)
    Incident.objects.bulk_create([p.incident for p in plans], batch_size=BATCH)
    IncidentUpdate.objects.bulk_create([u for p in plans for u in p.updates], batch_size=BATCH)
    through = Incident.components.through
    through.objects.bulk_create(
        [through(incident=p.incident, component=c) for p in plans for c in p.components],
        batch_size=BATCH,
    )
    StatusChange.objects.bulk_create(
        [row for rows in changes.values() for row in rows], batch_size=BATCH
    )
    Postmortem.objects.bulk_create([p.postmortem for p in plans if p.postmortem], batch_size=BATCH)


def timeline(plans: list[Plan]) -> dict[str, list[Any]]:
    """StatusChange rows per component, oldest first, each ``old_status`` the one before;
    a change to the status already in effect is left out, as the services do."""
    from heliograph.catalog.models import StatusChange

    points: dict[str, list[tuple[datetime, str, Any, Any, str]]] = defaultdict(list)
    for plan in plans:
        for component, at, status, source in plan.changes:
            points[component.pk].append((at, status, component, plan.incident, source))
    rows: dict[str, list[Any]] = {}
    for component_id, found in points.items():
        current, rows[component_id] = "operational", []
        for at, status, component, incident, source in sorted(found, key=lambda p: p[0]):
            if status != current:
                rows[component_id].append(
                    StatusChange(
                        component=component,
                        old_status=current,
                        new_status=status,
                        at=at,
                        source=source,
                        actor="bench",
                        incident=incident,
                    )
                )
                current = status
    return rows
