"""Subscribing, confirming and unsubscribing: the public side of the subscriber list.

E-mail subscribers confirm by double opt-in (a link in an e-mail queued in the same
transaction). Webhook subscribers are active at once, as on Statuspage: the endpoint is
checked against the private-address rules instead, and the contact e-mail is only told
about quarantine. Subscribing never reveals whether an address was already on the list:
the caller gets the same answer either way, and a confirmed subscriber gets nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import timezone

from heliograph.catalog.models import Component, Page
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from heliograph.lib.netguard import check_endpoint
from heliograph.notify import outbox
from heliograph.notify.models import EMAIL, WEBHOOK, Subscriber, new_token

MAX_EMAIL = 320
MAX_ENDPOINT = 2000
_email_validator = EmailValidator()


def clean_email(email: str) -> str:
    email = (email or "").strip()
    if not email:
        raise InputError("an e-mail address is required")
    if len(email) > MAX_EMAIL:
        raise InputError(f"the e-mail address is longer than {MAX_EMAIL} characters")
    try:
        _email_validator(email)
    except ValidationError:
        raise InputError(f"{email!r} is not a valid e-mail address") from None
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def clean_endpoint(endpoint: str) -> str:
    endpoint = (endpoint or "").strip()
    if not endpoint:
        raise InputError("a webhook URL is required")
    if len(endpoint) > MAX_ENDPOINT:
        raise InputError(f"the webhook URL is longer than {MAX_ENDPOINT} characters")
    check_url_characters(endpoint)
    check_endpoint(endpoint)
    return endpoint


def check_url_characters(endpoint: str) -> None:
    """A URL holds no space or control character (percent-encode them), nor could a NUL
    be stored on PostgreSQL."""
    if any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in endpoint):
        raise InputError("the webhook URL must not contain spaces or control characters")


def page_components(page: Page, component_ids: Sequence[str]) -> list[Component]:
    wanted = list(dict.fromkeys(str(c).strip() for c in component_ids if str(c).strip()))
    found = {c.pk: c for c in page.components.filter(pk__in=wanted)}
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise InputError(f"unknown component id(s) on this page: {', '.join(unknown)}")
    return [found[c] for c in wanted]


def check_page(page: Page) -> None:
    if not page.allow_subscribers:
        raise InputError("this page does not accept subscribers")


def subscribe_email(
    *, page: Page, email: str, component_ids: Sequence[str] = (), incident: Incident | None = None
) -> Subscriber:
    """Add an unconfirmed e-mail subscriber and queue its confirmation e-mail.

    An address already subscribed (to the same page, or the same incident) is left as it
    is: confirmed, it is told nothing; unconfirmed, it gets its confirmation again.
    """
    check_page(page)
    address = clean_email(email)
    components = page_components(page, component_ids)
    if incident is not None and incident.page_id != page.pk:
        raise InputError("that incident is not on this page")
    with transaction.atomic():
        existing = (
            Subscriber.objects.select_for_update()
            .filter(page=page, kind=EMAIL, email__iexact=address, incident=incident)
            .filter(unsubscribed_at__isnull=True)
            .first()
        )
        if existing is not None:
            if existing.confirmed_at is None:
                existing.components.set(components)
                outbox.request_confirmation(subscriber=existing)
            return existing
        subscriber = Subscriber.objects.create(
            page=page, kind=EMAIL, email=address, incident=incident
        )
        subscriber.components.set(components)
        outbox.request_confirmation(subscriber=subscriber)
        return subscriber


def subscribe_webhook(
    *,
    page: Page,
    endpoint: str,
    email: str,
    component_ids: Sequence[str] = (),
    welcome: bool = True,
) -> Subscriber:
    """Add a webhook subscriber, active at once (Statuspage asks no opt-in for webhooks).

    ``email`` is the contact: it gets the signing secret (unless not ``welcome``) and is
    told when the webhook is quarantined. An endpoint already subscribed is left as it
    is, and its contact of record (not the caller) is sent the secret again.
    """
    check_page(page)
    address = clean_email(email)
    components = page_components(page, component_ids)
    url = clean_endpoint(endpoint)
    with transaction.atomic():
        existing = (
            Subscriber.objects.filter(page=page, kind=WEBHOOK, endpoint=url)
            .filter(unsubscribed_at__isnull=True)
            .first()
        )
        if existing is not None:
            if welcome and existing.email:
                outbox.welcome_webhook(subscriber=existing)
            return existing
        subscriber = Subscriber.objects.create(
            page=page, kind=WEBHOOK, endpoint=url, email=address, confirmed_at=timezone.now()
        )
        subscriber.components.set(components)
        if welcome:
            outbox.welcome_webhook(subscriber=subscriber)
        return subscriber


def _by_token(token: str) -> Subscriber:
    subscriber = Subscriber.objects.filter(unsubscribe_token=token or "").first()
    if subscriber is None:
        raise InputError("this link is not valid (it may be mistyped or too old)")
    return subscriber


def find(*, token: str) -> Subscriber:
    """The subscriber a link is for; InputError for an unknown token."""
    return _by_token(token)


def confirm(*, token: str) -> Subscriber:
    """Confirm an e-mail subscription; repeating it (or after unsubscribing) changes nothing."""
    with transaction.atomic():
        subscriber = _by_token(token)
        if subscriber.confirmed_at is None and subscriber.unsubscribed_at is None:
            subscriber.confirmed_at = timezone.now()
            subscriber.save(update_fields=["confirmed_at"])
        return subscriber


def unsubscribe(*, token: str) -> Subscriber:
    """Stop every notification to this subscriber; repeating it changes nothing."""
    with transaction.atomic():
        subscriber = _by_token(token)
        if subscriber.unsubscribed_at is None:
            subscriber.unsubscribed_at = timezone.now()
            subscriber.save(update_fields=["unsubscribed_at"])
        return subscriber


def choose_components(*, token: str, component_ids: Sequence[str]) -> Subscriber:
    """What a subscriber hears about, from their manage page: the components chosen, or
    everything when none is (an incident follower's choice is the incident)."""
    with transaction.atomic():
        subscriber = _by_token(token)
        if subscriber.unsubscribed_at or subscriber.incident_id:
            raise InputError("this subscription follows no components")
        subscriber.components.set(page_components(subscriber.page, component_ids))
        return subscriber


def _webhook_by_token(token: str) -> Subscriber:
    subscriber = _by_token(token)
    if subscriber.kind != WEBHOOK or subscriber.unsubscribed_at:
        raise InputError("only a subscribed webhook can do this")
    return subscriber


def reactivate(*, token: str) -> Subscriber:
    """Lift a webhook's quarantine from the link its contact was sent."""
    with transaction.atomic():
        subscriber = _webhook_by_token(token)
        if subscriber.quarantined_at:
            outbox.reactivate(subscriber=subscriber)
        return subscriber


def renew_secret(*, token: str) -> Subscriber:
    """A new signing secret, e-mailed to the webhook's contact (never shown on a page)."""
    with transaction.atomic():
        subscriber = _webhook_by_token(token)
        if not subscriber.email:
            raise InputError("this webhook has no contact address to send a secret to")
        subscriber.signing_secret = new_token()
        subscriber.save(update_fields=["signing_secret"])
        outbox.welcome_webhook(subscriber=subscriber)
        return subscriber
