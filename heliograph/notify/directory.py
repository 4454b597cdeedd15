"""The subscriber list as responders see it: search, counts, and changes made on their behalf.

The Manage API and the console both call these. Unlike the public subscribe form, an
operator may be told that an address is already on the list. Every change is audited;
secrets (signing secret, link token) never enter the audit log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from django.db import transaction
from django.db.models import Case, CharField, F, Q, QuerySet, When
from django.db.models.functions import Lower
from django.utils import timezone

from heliograph.audit import trail
from heliograph.catalog.models import Page
from heliograph.incidents.models import Incident
from heliograph.lib.csvcells import safe_row
from heliograph.lib.errors import InputError
from heliograph.notify import outbox, subscriptions
from heliograph.notify.models import EMAIL, SUBSCRIBER_KINDS, WEBHOOK, Subscriber, new_token

ACTIVE, UNCONFIRMED, QUARANTINED, UNSUBSCRIBED, ALL = (
    "active", "unconfirmed", "quarantined", "unsubscribed", "all",
)  # fmt: skip
SUBSCRIBED = "subscribed"  # any state but unsubscribed: what Statuspage's API calls "all"
STATES = (ACTIVE, UNCONFIRMED, QUARANTINED, UNSUBSCRIBED, ALL, SUBSCRIBED)
KINDS = tuple(k for k, _ in SUBSCRIBER_KINDS)
OTHER_KINDS = ("sms", "slack", "integration_partner")  # Statuspage's; none exist here
SORT_FIELDS = (
    "created_at", "email", "endpoint", "mode", "primary", "quarantined_at", "relevance",
)  # fmt: skip
BULK_LIMIT = 100  # Statuspage's limit on an explicit list of subscriber codes

_STATE_FILTERS = {
    ACTIVE: Q(
        confirmed_at__isnull=False, quarantined_at__isnull=True, unsubscribed_at__isnull=True
    ),
    UNCONFIRMED: Q(confirmed_at__isnull=True, unsubscribed_at__isnull=True),
    QUARANTINED: Q(quarantined_at__isnull=False, unsubscribed_at__isnull=True),
    UNSUBSCRIBED: Q(unsubscribed_at__isnull=False),
    ALL: Q(),
    SUBSCRIBED: Q(unsubscribed_at__isnull=True),
}
# Statuspage's "primary" sort: the identifying address (a webhook's URL, else the e-mail).
_PRIMARY = Lower(
    Case(When(kind=WEBHOOK, then=F("endpoint")), default=F("email"), output_field=CharField())
)


def state_of(subscriber: Subscriber) -> str:
    if subscriber.unsubscribed_at:
        return UNSUBSCRIBED
    if subscriber.quarantined_at:
        return QUARANTINED
    return ACTIVE if subscriber.confirmed_at else UNCONFIRMED


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
    return value


def search(
    *,
    page: Page,
    q: str = "",
    kind: str = "",
    state: str = ACTIVE,
    incident: Incident | None = None,
    sort_field: str = "created_at",
    sort_direction: str = "asc",
) -> QuerySet[Subscriber]:
    """Subscribers matching every given filter; ``q`` searches e-mail and endpoint."""
    found = page.subscribers.filter(_STATE_FILTERS[_check_choice("state", state, STATES)])
    if kind in OTHER_KINDS:
        found = found.none()
    elif kind:
        found = found.filter(kind=_check_choice("type", kind, KINDS))
    if q.strip():
        found = found.filter(Q(email__icontains=q.strip()) | Q(endpoint__icontains=q.strip()))
    if incident is not None:
        found = found.filter(incident=incident)
    desc = _check_choice("sort_direction", sort_direction, ("asc", "desc")) == "desc"
    keys = [*_sort_keys(_check_choice("sort_field", sort_field, SORT_FIELDS), q.strip()), F("id")]
    order = [k.desc(nulls_last=True) if desc else k.asc(nulls_last=True) for k in keys]
    return found.order_by(*order).prefetch_related("components")


def _sort_keys(field: str, q: str) -> list[Any]:
    if field == "relevance":  # exact matches first, then prefixes, then the rest
        if not q:
            raise InputError("sort_field relevance needs a search text (q)")
        exact = Q(email__iexact=q) | Q(endpoint__iexact=q)
        prefix = Q(email__istartswith=q) | Q(endpoint__istartswith=q)
        rank = Case(When(exact, then=0), When(prefix, then=1), default=2)
        return [rank, _PRIMARY]
    named = {"primary": _PRIMARY, "mode": F("kind")}
    return [named.get(field, F(field))]


def count_by_kind(*, page: Page, kind: str = "", state: str = ACTIVE) -> dict[str, int]:
    """Statuspage's ``subscribers/count``: one figure per type (zero for ones we lack)."""
    found = search(page=page, kind=kind, state=state)
    counts = {k: 0 for k in ("email", "sms", "webhook", "slack", "integration_partner")}
    for k in KINDS:
        counts[k] = found.filter(kind=k).count()
    return counts


def histogram(*, page: Page) -> dict[str, dict[str, int]]:
    """Counts by type and then state, with totals (Statuspage's ``histogram_by_state``)."""
    table: dict[str, dict[str, int]] = {}
    for k in ("email", "sms", "webhook", "slack", "integration_partner"):
        row = {s: 0 for s in (ACTIVE, UNCONFIRMED, QUARANTINED)}
        if k in KINDS:
            for s in row:
                row[s] = search(page=page, kind=k, state=s).count()
        row["total"] = sum(row.values())
        table[k] = row
    return table


def find(*, page: Page, subscriber_id: str) -> Subscriber:
    found = page.subscribers.filter(pk=subscriber_id).first()
    if found is None:
        raise LookupError(f"no subscriber {subscriber_id!r} on this page")
    return found


def _audit_view(subscriber: Subscriber) -> dict[str, Any]:
    """What the audit log keeps of a subscriber: never its secret or link token."""
    return {
        "mode": subscriber.kind,
        "email": subscriber.email,
        "endpoint": subscriber.endpoint,
        "incident": subscriber.incident_id,
        "state": state_of(subscriber),
        "components": sorted(subscriber.components.values_list("pk", flat=True)),
    }


def _record(actor: str, action: str, subscriber: Subscriber, before: dict[str, Any] | None) -> None:
    trail.record(
        actor=actor,
        action=action,
        target=subscriber,
        page_id=subscriber.page_id,
        before=before,
        after=_audit_view(subscriber),
    )


# --- one subscriber -----------------------------------------------------------------------


def create(
    *,
    page: Page,
    actor: str,
    email: str = "",
    endpoint: str = "",
    component_ids: Sequence[str] = (),
    incident: Incident | None = None,
    skip_confirmation: bool = False,
) -> Subscriber:
    """Add a subscriber for the operator; InputError if the address is already on the list.

    E-mail subscribers get the double opt-in e-mail unless ``skip_confirmation`` (the
    operator vouches for them); webhooks are active at once.
    """
    with transaction.atomic():
        if endpoint:
            _refuse_duplicate(page, WEBHOOK, subscriptions.clean_endpoint(endpoint), None)
            subscriber = subscriptions.subscribe_webhook(
                page=page,
                endpoint=endpoint,
                email=email,
                component_ids=component_ids,
                welcome=not skip_confirmation,
            )
        else:
            _refuse_duplicate(page, EMAIL, subscriptions.clean_email(email), incident)
            subscriber = _create_email(page, email, component_ids, incident, skip_confirmation)
        _record(actor, "subscriber.create", subscriber, None)
        return subscriber


def _refuse_duplicate(page: Page, kind: str, address: str, incident: Incident | None) -> None:
    same = Q(email__iexact=address) if kind == EMAIL else Q(endpoint=address)
    taken = page.subscribers.filter(same, kind=kind, incident=incident, unsubscribed_at=None)
    if taken.exists():
        raise InputError(f"{address} is already subscribed")


def _create_email(
    page: Page, email: str, component_ids: Sequence[str], incident: Incident | None, skip: bool
) -> Subscriber:
    if not skip:
        return subscriptions.subscribe_email(
            page=page, email=email, component_ids=component_ids, incident=incident
        )
    subscriptions.check_page(page)
    components = subscriptions.page_components(page, component_ids)
    subscriber = Subscriber.objects.create(
        page=page,
        kind=EMAIL,
        email=subscriptions.clean_email(email),
        incident=incident,
        confirmed_at=timezone.now(),
    )
    subscriber.components.set(components)
    return subscriber


def set_components(*, subscriber: Subscriber, component_ids: Sequence[str], actor: str) -> None:
    """Choose the components a subscriber hears about; an empty list means the whole page."""
    components = subscriptions.page_components(subscriber.page, component_ids)
    with transaction.atomic():
        before = _audit_view(subscriber)
        subscriber.components.set(components)
        _record(actor, "subscriber.update", subscriber, before)


def rotate_secret(*, subscriber: Subscriber, actor: str) -> str:
    """A new webhook signing secret (the old one stops verifying at once)."""
    if subscriber.kind != WEBHOOK:
        raise InputError("only webhook subscribers have a signing secret")
    with transaction.atomic():
        subscriber.signing_secret = new_token()
        subscriber.save(update_fields=["signing_secret"])
        _record(actor, "subscriber.rotate_secret", subscriber, None)
    return subscriber.signing_secret


# --- many subscribers ---------------------------------------------------------------------


def select(
    *, page: Page, codes: Sequence[str] | Literal["all"], kind: str = "", state: str = ALL
) -> list[Subscriber]:
    """The subscribers a bulk action names: an explicit list of ids, or "all" with filters."""
    found = search(page=page, kind=kind, state=state)
    if codes == "all":
        return list(found)
    wanted = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    if not wanted:
        raise InputError("name at least one subscriber, or 'all'")
    if len(wanted) > BULK_LIMIT:
        raise InputError(f"at most {BULK_LIMIT} subscribers at a time (or 'all')")
    chosen = list(found.filter(pk__in=wanted))
    unknown = set(wanted) - {s.pk for s in chosen}
    if unknown:
        raise InputError(f"no such subscriber(s) here: {', '.join(sorted(unknown))}")
    return chosen


def unsubscribe(*, subscribers: Iterable[Subscriber], actor: str) -> int:
    """Stop every notification to these subscribers; returns how many changed."""
    return _each(subscribers, actor, "subscriber.unsubscribe", _unsubscribe_one)


def reactivate(*, subscribers: Iterable[Subscriber], actor: str) -> int:
    """Lift the quarantine of these webhooks; returns how many changed."""
    return _each(subscribers, actor, "subscriber.reactivate", _reactivate_one)


def resend_confirmation(*, subscribers: Iterable[Subscriber], actor: str) -> int:
    """Queue the opt-in e-mail again for the unconfirmed e-mail subscribers among these."""
    return _each(subscribers, actor, "subscriber.resend_confirmation", _resend_one)


def _each(subscribers: Iterable[Subscriber], actor: str, action: str, change: Any) -> int:
    changed = 0
    with transaction.atomic():
        for subscriber in subscribers:
            before = _audit_view(subscriber)
            if change(subscriber):
                _record(actor, action, subscriber, before)
                changed += 1
    return changed


def _unsubscribe_one(subscriber: Subscriber) -> bool:
    if subscriber.unsubscribed_at:
        return False
    subscriber.unsubscribed_at = timezone.now()
    subscriber.save(update_fields=["unsubscribed_at"])
    return True


def _reactivate_one(subscriber: Subscriber) -> bool:
    if not subscriber.quarantined_at or subscriber.unsubscribed_at:
        return False
    outbox.reactivate(subscriber=subscriber)
    return True


def _resend_one(subscriber: Subscriber) -> bool:
    if state_of(subscriber) != UNCONFIRMED or subscriber.kind != EMAIL:
        return False
    outbox.request_confirmation(subscriber=subscriber)
    return True


# --- export -------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "id", "mode", "email", "endpoint", "components", "incident", "state", "created_at",
)  # fmt: skip


def export_csv(subscribers: Iterable[Subscriber]) -> Iterable[str]:
    """CSV lines (header first) that ``heliograph subscribers import`` reads back (it
    refuses the rows of unsubscribed and single-incident subscribers)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row: Sequence[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(safe_row(row))  # no cell a spreadsheet would run as a formula
        return buffer.getvalue()

    yield line(EXPORT_COLUMNS)
    for s in subscribers:
        components = ";".join(sorted(c.pk for c in s.components.all()))
        yield line(
            [
                s.pk,
                s.kind,
                s.email,
                s.endpoint,
                components,
                s.incident_id or "",
                state_of(s),
                s.created_at.isoformat(),
            ]
        )
