"""Subscriber shapes, named and typed after Statuspage's Manage API spec.

``Subscriber`` carries Statuspage's fields (the SMS and Slack ones always null: Heliograph
sends e-mail and webhooks) and Heliograph's own: ``state``, ``incident_id``,
``confirmed_at``, ``unsubscribed_at`` and, for webhooks, ``signing_secret``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field

from heliograph.api.schemas import Id, NoNul, Text64, Text255

# Statuspage's types; only e-mail and webhook subscribers exist here (the rest count 0).
SubscriberType = Literal["email", "sms", "webhook", "slack", "integration_partner"]
# Statuspage's states, plus Heliograph's "unsubscribed". "all" is every state but that one.
SubscriberState = Literal["active", "unconfirmed", "quarantined", "unsubscribed", "all"]
SortField = Literal["primary", "created_at", "quarantined_at", "relevance"]
Email = Annotated[str, Field(max_length=320), NoNul]
Endpoint = Annotated[str, Field(max_length=2000), NoNul]
Codes = (
    Annotated[list[Id], Field(max_length=1000)] | Annotated[str, Field(max_length=10_000), NoNul]
)


class SubscriberOut(Schema):
    id: str
    mode: Literal["email", "webhook"]
    email: str | None
    endpoint: str | None
    phone_number: str | None
    phone_country: str | None
    display_phone_number: str | None
    obfuscated_channel_name: str | None
    workspace_name: str | None
    quarantined_at: str | None
    purge_at: str | None
    components: list[str]
    page_access_user_id: str | None
    skip_confirmation_notification: bool
    created_at: str | None
    # Heliograph's own:
    state: Literal["active", "unconfirmed", "quarantined", "unsubscribed"]
    incident_id: str | None
    confirmed_at: str | None
    unsubscribed_at: str | None
    signing_secret: str | None = Field(
        None, description="Webhooks: the HMAC-SHA256 key of X-Heliograph-Signature (not in lists)"
    )


class SubscriberCountByType(Schema):
    email: int
    sms: int
    webhook: int
    integration_partner: int
    slack: int


class SubscriberCountByState(Schema):
    active: int
    unconfirmed: int
    quarantined: int
    total: int


class SubscriberCountByTypeAndState(Schema):
    email: SubscriberCountByState
    sms: SubscriberCountByState
    webhook: SubscriberCountByState
    integration_partner: SubscriberCountByState
    slack: SubscriberCountByState


class BulkOut(Schema):
    count: int = Field(description="How many subscribers the request changed")


# --- queries --------------------------------------------------------------------------------


class SubscriberQuery(Schema):
    q: Text255 | None = Field(None, description="Text in the e-mail address or webhook URL")
    type: SubscriberType | None = Field(None, description="Only subscribers of this type")
    state: SubscriberState = Field("active", description='"all": any state but unsubscribed')
    limit: int = Field(100, ge=1, le=1_000_000, description="Rows per page (at most 100)")
    page: int = Field(0, ge=0, le=1_000_000, description="Page offset; the first page is 0")
    sort_field: SortField = Field("primary", description="primary: the e-mail address or URL")
    sort_direction: Literal["asc", "desc"] = "asc"


class CountQuery(Schema):
    type: SubscriberType | None = Field(None, description="Only count subscribers of this type")
    state: SubscriberState = Field("active", description='"all": any state but unsubscribed')


class DeleteQuery(Schema):
    skip_unsubscription_notification: bool | None = Field(
        None, description="Accepted for Statuspage clients: no such notice is ever sent"
    )


# --- bodies ---------------------------------------------------------------------------------


class SubscriberFields(Schema):
    email: Email | None = None
    endpoint: Endpoint | None = None
    component_ids: list[Id] | None = None
    skip_confirmation_notification: bool | None = None
    phone_number: Text64 | None = None  # refused: no SMS here
    phone_country: Text64 | None = None
    page_access_user: Id | None = None  # refused: no audience-specific pages here
    mode: SubscriberType | None = None  # Heliograph: says outright which kind is meant


class SubscriberCreateIn(Schema):
    subscriber: SubscriberFields


class IncidentSubscriberFields(Schema):
    email: Email | None = None
    skip_confirmation_notification: bool | None = None
    phone_number: Text64 | None = None
    phone_country: Text64 | None = None


class IncidentSubscriberCreateIn(IncidentSubscriberFields):
    """Wrapped as the spec's schema says, or bare as its curl example sends it."""

    subscriber: IncidentSubscriberFields | None = None


class ComponentIdsFields(Schema):
    component_ids: list[Id] | None = None


class SubscriberPatchIn(ComponentIdsFields):
    """``component_ids`` bare as in the spec, or wrapped in ``subscriber``; absent: whole page."""

    subscriber: ComponentIdsFields | None = None


class BulkIn(Schema):
    subscribers: Codes = Field(description='Subscriber ids (at most 100), or "all"')
    type: SubscriberType | None = None
    state: SubscriberState | None = Field(
        None, description='With "all", only subscribers in this state'
    )
    skip_unsubscription_notification: bool | None = None  # no such notice is ever sent
