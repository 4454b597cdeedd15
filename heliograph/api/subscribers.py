"""``/v1/pages/{page_id}/subscribers`` and an incident's ``subscribers``, as on Statuspage.

E-mail subscribers added here get the double opt-in e-mail, unless
``skip_confirmation_notification`` (the operator vouches: confirmed at once, no e-mail).
Webhooks are active at once; their ``signing_secret`` is shown to the key holder, who owns
the page, in answers about one subscriber (never in lists). SMS, Slack and
audience-specific subscribers do not exist here: asking for one is a 422 that says so.
The services live in heliograph.notify.directory, which audits every change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from heliograph.api.auth import actor
from heliograph.api.common import incident_or_404, page_or_404, paginate, plain_id, responses
from heliograph.api.errors import not_found
from heliograph.api.incidents import INCIDENT
from heliograph.api.schemas import Paging
from heliograph.api.serialize import Json, time, zone_world
from heliograph.api.subscriber_schemas import (
    BulkIn,
    BulkOut,
    CountQuery,
    DeleteQuery,
    IncidentSubscriberCreateIn,
    SubscriberCountByType,
    SubscriberCountByTypeAndState,
    SubscriberCreateIn,
    SubscriberFields,
    SubscriberOut,
    SubscriberPatchIn,
    SubscriberQuery,
)
from heliograph.catalog.models import Page
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from heliograph.notify import directory
from heliograph.notify.models import WEBHOOK, Subscriber
from heliograph.publish.world import World

router = Router(tags=["subscribers"])
SUBSCRIBERS = "/pages/{page_id}/subscribers"
SUBSCRIBER = SUBSCRIBERS + "/{subscriber_id}"
INCIDENT_SUBSCRIBERS = INCIDENT + "/subscribers"
INCIDENT_SUBSCRIBER = INCIDENT_SUBSCRIBERS + "/{subscriber_id}"
INCIDENT_TAGS = ["incident subscribers"]
UNSUPPORTED = {"sms": "SMS", "slack": "Slack", "integration_partner": "Integration partner"}
WE_SEND = "Heliograph notifies subscribers by e-mail and webhook"


def subscriber_json(
    world: World, s: Subscriber, *, secret: bool = True, skip: bool = False
) -> Json:
    return {
        "id": s.pk,
        "mode": s.kind,
        "email": s.email or None,
        "endpoint": s.endpoint or None,
        "phone_number": None,
        "phone_country": None,
        "display_phone_number": None,
        "obfuscated_channel_name": None,
        "workspace_name": None,
        "quarantined_at": time(world, s.quarantined_at),
        "purge_at": None,  # quarantined subscribers are never purged here
        "components": [c.pk for c in s.components.all()],
        "page_access_user_id": None,
        "skip_confirmation_notification": skip,
        "created_at": time(world, s.created_at),
        "state": directory.state_of(s),
        "incident_id": s.incident_id,
        "confirmed_at": time(world, s.confirmed_at),
        "unsubscribed_at": time(world, s.unsubscribed_at),
        "signing_secret": s.signing_secret if secret and s.kind == WEBHOOK else None,
    }


def _one(page: Page, subscriber: Subscriber, skip: bool = False) -> Json:
    return subscriber_json(zone_world(page), subscriber, skip=skip)


def _listing(page: Page, subscribers: Iterable[Subscriber]) -> list[Json]:
    world = zone_world(page)
    return [subscriber_json(world, s, secret=False) for s in subscribers]


def subscriber_or_404(
    page: Page, subscriber_id: str, incident: Incident | None = None
) -> Subscriber:
    try:
        if not plain_id(subscriber_id):
            raise LookupError(subscriber_id)
        found = directory.find(page=page, subscriber_id=subscriber_id)
    except LookupError:
        raise not_found("subscriber") from None
    if incident is not None and found.incident_id != incident.pk:
        raise not_found("subscriber")
    return found


def _state(state: str) -> str:
    """The API's "all" (Statuspage's: any state but unsubscribed) in the directory's words."""
    return directory.SUBSCRIBED if state == "all" else state


# --- counts and listings (before /{subscriber_id}, which would take their names) ----------


@router.get(
    SUBSCRIBERS + "/count",
    response=responses(200, SubscriberCountByType),
    operation_id="getPagesPageIdSubscribersCount",
    summary="Get a count of subscribers by type",
)
def count(request: HttpRequest, page_id: str, query: Query[CountQuery]) -> dict[str, int]:
    page = page_or_404(page_id)
    return directory.count_by_kind(page=page, kind=query.type or "", state=_state(query.state))


@router.get(
    SUBSCRIBERS + "/histogram_by_state",
    response=responses(200, SubscriberCountByTypeAndState),
    operation_id="getPagesPageIdSubscribersHistogramByState",
    summary="Get a histogram of subscribers by type and then state",
)
def histogram(request: HttpRequest, page_id: str) -> dict[str, dict[str, int]]:
    return directory.histogram(page=page_or_404(page_id))


@router.get(
    SUBSCRIBERS + "/unsubscribed",
    response=responses(200, list[SubscriberOut]),
    operation_id="getPagesPageIdSubscribersUnsubscribed",
    summary="Get a list of unsubscribed subscribers",
    description="Most recently unsubscribed first.",
)
def list_unsubscribed(request: HttpRequest, page_id: str, paging: Query[Paging]) -> list[Json]:
    page = page_or_404(page_id)
    found = directory.search(page=page, state=directory.UNSUBSCRIBED)
    found = found.order_by("-unsubscribed_at", "-id")
    return _listing(page, paginate(found, paging.page, paging.per_page))


@router.get(
    SUBSCRIBERS,
    response=responses(200, list[SubscriberOut]),
    operation_id="getPagesPageIdSubscribers",
    summary="Get a list of subscribers",
    description="Pages count from 0, as on Statuspage. Incident subscribers are included "
    "(their incident_id is set).",
)
def list_subscribers(
    request: HttpRequest, page_id: str, query: Query[SubscriberQuery]
) -> list[Json]:
    page = page_or_404(page_id)
    found = directory.search(
        page=page,
        q=query.q or "",
        kind=query.type or "",
        state=_state(query.state),
        sort_field=query.sort_field,
        sort_direction=query.sort_direction,
    )
    return _listing(page, paginate(found, query.page + 1, query.limit))


# --- bulk actions --------------------------------------------------------------------------


def _chosen(page: Page, data: BulkIn, default_state: str) -> list[Subscriber]:
    """The subscribers a bulk body names: ids (type and state filter them), or "all"."""
    codes = data.subscribers
    if isinstance(codes, str):
        codes = codes.split(",")
    if [c.strip() for c in codes] == ["all"]:
        state = _state(data.state or default_state)
        return directory.select(page=page, codes="all", kind=data.type or "", state=state)
    return [s for s in directory.select(page=page, codes=codes) if _fits(s, data)]


def _fits(subscriber: Subscriber, data: BulkIn) -> bool:
    if data.type and subscriber.kind != data.type:
        return False
    state = directory.state_of(subscriber)
    return data.state in (None, state) or (data.state == "all" and state != directory.UNSUBSCRIBED)


def _bulk_route(
    action: str,
    change: Callable[..., int],
    default_state: str,
    operation_id: str,
    summary: str,
    description: str,
) -> None:
    """The three bulk actions differ only in what they do and whom "all" means."""

    @router.post(
        f"{SUBSCRIBERS}/{action}",
        response=responses(201, BulkOut),
        operation_id=operation_id,
        summary=summary,
        description=f'{description} "all" means the subscribers in `state` (default '
        f'{default_state}). Answers how many changed: {{"count": n}}.',
    )
    def bulk(request: HttpRequest, page_id: str, data: BulkIn) -> Status[dict[str, int]]:
        chosen = _chosen(page_or_404(page_id), data, default_state)
        return Status(201, {"count": change(subscribers=chosen, actor=actor(request))})

    bulk.__name__ = f"bulk_{action}"


_bulk_route(
    "resend_confirmation",
    directory.resend_confirmation,
    "unconfirmed",
    "postPagesPageIdSubscribersResendConfirmation",
    "Resend confirmations to a list of subscribers",
    "Only unconfirmed e-mail subscribers are sent the confirmation again.",
)
_bulk_route(
    "unsubscribe",
    directory.unsubscribe,
    "active",
    "postPagesPageIdSubscribersUnsubscribe",
    "Unsubscribe a list of subscribers",
    'At most 100 ids at a time, or "all".',
)
_bulk_route(
    "reactivate",
    directory.reactivate,
    "quarantined",
    "postPagesPageIdSubscribersReactivate",
    "Reactivate a list of subscribers",
    "Lifts the quarantine of webhook subscribers.",
)


# --- one subscriber ------------------------------------------------------------------------


def _refuse_unsupported(fields: Any) -> None:
    """SMS, Slack and page access users are Statuspage's; say so instead of guessing."""
    mode = getattr(fields, "mode", None)
    if fields.phone_number or fields.phone_country or mode == "sms":
        raise InputError(f"SMS subscribers are not supported: {WE_SEND}")
    if mode in UNSUPPORTED:
        raise InputError(f"{UNSUPPORTED[mode]} subscribers are not supported: {WE_SEND}")
    if getattr(fields, "page_access_user", None):
        raise InputError("page_access_user is not supported: pages here are public")


def _check_create(fields: SubscriberFields) -> None:
    _refuse_unsupported(fields)
    if fields.mode == "email" and fields.endpoint:
        raise InputError("an e-mail subscriber takes no endpoint")
    if fields.mode == "webhook" and not fields.endpoint:
        raise InputError("a webhook subscriber needs subscriber[endpoint]")
    if not fields.email:
        needed = "the contact told of its signing secret and quarantine"
        raise InputError(
            f"a webhook subscriber needs subscriber[email], {needed}"
            if fields.endpoint
            else "send subscriber[email] (e-mail) or subscriber[endpoint] and [email] (webhook)"
        )


@router.post(
    SUBSCRIBERS,
    response=responses(201, SubscriberOut),
    operation_id="postPagesPageIdSubscribers",
    summary="Create a subscriber",
    description="subscriber[email] alone: an e-mail subscriber, sent the opt-in e-mail "
    "unless skip_confirmation_notification. With subscriber[endpoint]: a webhook, active at "
    "once, whose contact is e-mailed its signing secret unless skip_confirmation_notification.",
)
def create_subscriber(request: HttpRequest, page_id: str, data: SubscriberCreateIn) -> Status[Json]:
    page = page_or_404(page_id)
    fields = data.subscriber
    _check_create(fields)
    skip = bool(fields.skip_confirmation_notification)
    subscriber = directory.create(
        page=page,
        actor=actor(request),
        email=fields.email or "",
        endpoint=fields.endpoint or "",
        component_ids=fields.component_ids or [],
        skip_confirmation=skip,
    )
    return Status(201, _one(page, subscriber, skip=skip))


@router.get(
    SUBSCRIBER,
    response=responses(200, SubscriberOut),
    operation_id="getPagesPageIdSubscribersSubscriberId",
    summary="Get a subscriber",
)
def get_subscriber(request: HttpRequest, page_id: str, subscriber_id: str) -> Json:
    page = page_or_404(page_id)
    return _one(page, subscriber_or_404(page, subscriber_id))


@router.patch(
    SUBSCRIBER,
    response=responses(200, SubscriberOut),
    operation_id="patchPagesPageIdSubscribersSubscriberId",
    summary="Update a subscriber",
    description="component_ids (bare, or in subscriber[]): the components to hear about; "
    "left out (or empty), the whole page.",
)
def update_subscriber(
    request: HttpRequest, page_id: str, subscriber_id: str, data: SubscriberPatchIn
) -> Json:
    page = page_or_404(page_id)
    subscriber = subscriber_or_404(page, subscriber_id)
    ids = data.component_ids
    if ids is None and data.subscriber is not None:
        ids = data.subscriber.component_ids
    if ids and subscriber.incident_id:
        raise InputError("an incident subscriber hears about its incident only, not components")
    directory.set_components(subscriber=subscriber, component_ids=ids or [], actor=actor(request))
    return _one(page, subscriber)


def _unsubscribe(request: HttpRequest, page: Page, subscriber: Subscriber) -> Json:
    directory.unsubscribe(subscribers=[subscriber], actor=actor(request))
    return _one(page, subscriber)


@router.delete(
    SUBSCRIBER,
    response=responses(200, SubscriberOut),
    operation_id="deletePagesPageIdSubscribersSubscriberId",
    summary="Unsubscribe a subscriber",
    description="The subscriber is kept, unsubscribed (listed under /subscribers/unsubscribed).",
)
def delete_subscriber(
    request: HttpRequest, page_id: str, subscriber_id: str, query: Query[DeleteQuery]
) -> Json:
    page = page_or_404(page_id)
    return _unsubscribe(request, page, subscriber_or_404(page, subscriber_id))


def _resend(request: HttpRequest, page: Page, subscriber: Subscriber) -> Status[Json]:
    if not directory.resend_confirmation(subscribers=[subscriber], actor=actor(request)):
        state = directory.state_of(subscriber)
        raise InputError(
            f"only unconfirmed e-mail subscribers are sent a confirmation (this {subscriber.kind} "
            f"subscriber is {state})"
        )
    return Status(201, _one(page, subscriber))


@router.post(
    SUBSCRIBER + "/resend_confirmation",
    response=responses(201, SubscriberOut),
    operation_id="postPagesPageIdSubscribersSubscriberIdResendConfirmation",
    summary="Resend confirmation to a subscriber",
)
def resend_one(request: HttpRequest, page_id: str, subscriber_id: str) -> Status[Json]:
    page = page_or_404(page_id)
    return _resend(request, page, subscriber_or_404(page, subscriber_id))


@router.post(
    SUBSCRIBER + "/rotate_secret",
    response=responses(200, SubscriberOut),
    operation_id="postPagesPageIdSubscribersSubscriberIdRotateSecret",
    summary="Give a webhook subscriber a new signing secret (Heliograph)",
    description="The old secret stops verifying at once; the answer shows the new one.",
)
def rotate_secret(request: HttpRequest, page_id: str, subscriber_id: str) -> Json:
    page = page_or_404(page_id)
    subscriber = subscriber_or_404(page, subscriber_id)
    directory.rotate_secret(subscriber=subscriber, actor=actor(request))
    return _one(page, subscriber)


# --- incident subscribers ------------------------------------------------------------------


@router.get(
    INCIDENT_SUBSCRIBERS,
    response=responses(200, list[SubscriberOut]),
    tags=INCIDENT_TAGS,
    operation_id="getPagesPageIdIncidentsIncidentIdSubscribers",
    summary="Get a list of incident subscribers",
    description="Every subscriber of the incident that has not unsubscribed, oldest first.",
)
def list_incident_subscribers(
    request: HttpRequest, page_id: str, incident_id: str, paging: Query[Paging]
) -> list[Json]:
    page = page_or_404(page_id)
    incident = incident_or_404(page, incident_id)
    found = directory.search(
        page=page, incident=incident, state=directory.SUBSCRIBED, sort_field="created_at"
    )
    return _listing(page, paginate(found, paging.page, paging.per_page))


@router.post(
    INCIDENT_SUBSCRIBERS,
    response=responses(201, SubscriberOut),
    tags=INCIDENT_TAGS,
    operation_id="postPagesPageIdIncidentsIncidentIdSubscribers",
    summary="Create an incident subscriber",
    description="An e-mail subscriber told about this incident only. The fields may come "
    "wrapped (subscriber[email]) or bare (email).",
)
def create_incident_subscriber(
    request: HttpRequest, page_id: str, incident_id: str, data: IncidentSubscriberCreateIn
) -> Status[Json]:
    page = page_or_404(page_id)
    incident = incident_or_404(page, incident_id)
    fields = data.subscriber or data
    _refuse_unsupported(fields)
    if not fields.email:
        raise InputError("send subscriber[email]: incident subscribers are told by e-mail")
    skip = bool(fields.skip_confirmation_notification)
    subscriber = directory.create(
        page=page,
        actor=actor(request),
        email=fields.email,
        incident=incident,
        skip_confirmation=skip,
    )
    return Status(201, _one(page, subscriber, skip=skip))


def _incident_subscriber(page_id: str, incident_id: str, subscriber_id: str) -> Subscriber:
    page = page_or_404(page_id)
    return subscriber_or_404(page, subscriber_id, incident_or_404(page, incident_id))


@router.get(
    INCIDENT_SUBSCRIBER,
    response=responses(200, SubscriberOut),
    tags=INCIDENT_TAGS,
    operation_id="getPagesPageIdIncidentsIncidentIdSubscribersSubscriberId",
    summary="Get an incident subscriber",
)
def get_incident_subscriber(
    request: HttpRequest, page_id: str, incident_id: str, subscriber_id: str
) -> Json:
    subscriber = _incident_subscriber(page_id, incident_id, subscriber_id)
    return _one(subscriber.page, subscriber)


@router.delete(
    INCIDENT_SUBSCRIBER,
    response=responses(200, SubscriberOut),
    tags=INCIDENT_TAGS,
    operation_id="deletePagesPageIdIncidentsIncidentIdSubscribersSubscriberId",
    summary="Unsubscribe an incident subscriber",
)
def delete_incident_subscriber(
    request: HttpRequest, page_id: str, incident_id: str, subscriber_id: str
) -> Json:
    subscriber = _incident_subscriber(page_id, incident_id, subscriber_id)
    return _unsubscribe(request, subscriber.page, subscriber)


@router.post(
    INCIDENT_SUBSCRIBER + "/resend_confirmation",
    response=responses(201, SubscriberOut),
    tags=INCIDENT_TAGS,
    operation_id="postPagesPageIdIncidentsIncidentIdSubscribersSubscriberIdResendConfirmation",
    summary="Resend confirmation to an incident subscriber",
)
def resend_incident_one(
    request: HttpRequest, page_id: str, incident_id: str, subscriber_id: str
) -> Status[Json]:
    subscriber = _incident_subscriber(page_id, incident_id, subscriber_id)
    return _resend(request, subscriber.page, subscriber)
