"""Request and response shapes, named and typed after Statuspage's Manage API spec.

Requests come wrapped (``{"incident": {...}}``); responses are bare. Free text refuses NUL
characters and numbers stay in the database's range, so fuzzed input gets a 422, never a
database error.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, Field

ComponentStatus = Literal[
    "operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"
]
IncidentStatus = Literal[
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "postmortem",
    "scheduled",
    "in_progress",
    "verifying",
    "completed",
]
UpdateStatus = Literal[
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "scheduled",
    "in_progress",
    "verifying",
    "completed",
]
Impact = Literal["none", "maintenance", "minor", "major", "critical"]
ChangeSource = Literal["deploy", "config", "maintenance"]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


def _no_nul_anywhere(value: Any) -> Any:
    """JSON for a jsonb column: PostgreSQL refuses NUL in any key or string."""
    if isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(str(key))
            _no_nul_anywhere(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul_anywhere(item)
    return value


def _sane_time(value: datetime) -> datetime:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not 1970 <= value.astimezone(UTC).year <= 2200:
        raise ValueError("times must fall between 1970 and 2200")
    return value


def _sane_date(value: date) -> date:
    if not 1970 <= value.year <= 2200:
        raise ValueError("dates must fall between 1970 and 2200")
    return value


NoNul = AfterValidator(_no_nul)
Id = Annotated[str, Field(max_length=64), NoNul]
Text64 = Annotated[str, Field(max_length=64), NoNul]
Text200 = Annotated[str, Field(max_length=200), NoNul]
Text255 = Annotated[str, Field(max_length=255), NoNul]
Text280 = Annotated[str, Field(max_length=280), NoNul]
Text1000 = Annotated[str, Field(max_length=1000), NoNul]
Description = Annotated[str, Field(max_length=10_000), NoNul]
UpdateBody = Annotated[str, Field(max_length=25_000), NoNul]  # Statuspage's limit
LongText = Annotated[str, Field(max_length=100_000), NoNul]
Metadata = Annotated[dict[str, Any], AfterValidator(_no_nul_anywhere)]
Moment = Annotated[datetime, AfterValidator(_sane_time)]
Day = Annotated[date, AfterValidator(_sane_date)]
Position = Annotated[int, Field(ge=0, le=2_000_000_000)]


class Message(Schema):
    message: str


# --- pages ---------------------------------------------------------------------------------


class PageOut(Schema):
    id: str
    created_at: str | None
    updated_at: str | None
    name: str
    page_description: str
    headline: str
    branding: str
    subdomain: str
    domain: str
    url: str
    support_url: str
    hidden_from_search: bool
    allow_page_subscribers: bool
    allow_incident_subscribers: bool
    allow_email_subscribers: bool
    allow_sms_subscribers: bool
    allow_rss_atom_feeds: bool
    allow_webhook_subscribers: bool
    time_zone: str
    embeddable: bool = Field(description="Heliograph: other sites may frame the public page")


class PageFields(Schema):
    name: Text255 | None = None
    domain: Text255 | None = None
    url: Text200 | None = None
    time_zone: Text64 | None = None
    allow_page_subscribers: bool | None = None
    allow_rss_atom_feeds: bool | None = None
    embeddable: bool | None = Field(
        None, description="Heliograph: let other sites frame the public page"
    )


class PageIn(Schema):
    page: PageFields


# --- components and groups -----------------------------------------------------------------


class ComponentOut(Schema):
    id: str
    page_id: str
    group_id: str | None
    created_at: str | None
    updated_at: str | None
    group: bool
    name: str
    description: str | None
    position: int
    status: ComponentStatus
    showcase: bool
    only_show_if_degraded: bool
    start_date: str | None
    components: list[str] | None = None  # only on entries that are groups


class ComponentFields(Schema):
    name: Text255 | None = None
    description: Description | None = None
    status: ComponentStatus | Literal[""] | None = None
    group_id: Id | None = None  # null or "null": out of its group
    showcase: bool | None = None
    only_show_if_degraded: bool | None = None
    start_date: Day | None = None
    position: Position | None = None  # Heliograph: Statuspage has no way to reorder


class ComponentIn(Schema):
    component: ComponentFields


class ComponentCreateFields(ComponentFields):
    name: Text255


class ComponentCreateIn(ComponentIn):
    component: ComponentCreateFields


class GroupOut(Schema):
    id: str
    page_id: str
    name: str
    description: str | None
    components: list[str]
    position: int
    created_at: str | None
    updated_at: str | None


class GroupFields(Schema):
    name: Text255 | None = None
    components: list[Id] | None = None
    description: Description | None = None
    position: Position | None = None


class GroupIn(Schema):
    component_group: GroupFields
    description: Description | None = None  # where Statuspage's spec puts it


class GroupCreateFields(GroupFields):
    name: Text255
    components: list[Id]


class GroupCreateIn(GroupIn):
    component_group: GroupCreateFields


# --- incidents -----------------------------------------------------------------------------


class AffectedComponent(Schema):
    code: str
    name: str
    old_status: str
    new_status: str


class IncidentUpdateOut(Schema):
    id: str
    incident_id: str
    status: IncidentStatus
    body: str
    created_at: str | None
    updated_at: str | None
    display_at: str | None
    affected_components: list[AffectedComponent] | None
    deliver_notifications: bool
    custom_tweet: str | None
    tweet_id: str | None
    wants_twitter_update: bool
    twitter_updated_at: str | None


class IncidentOut(Schema):
    id: str
    page_id: str
    name: str
    status: IncidentStatus
    impact: Impact
    impact_override: Impact | None
    created_at: str | None
    updated_at: str | None
    started_at: str | None
    monitoring_at: str | None
    resolved_at: str | None
    shortlink: str
    incident_updates: list[IncidentUpdateOut]
    components: list[ComponentOut]
    metadata: dict[str, Any]
    postmortem_body: str | None
    postmortem_body_last_updated_at: str | None
    postmortem_ignored: bool
    postmortem_notified_subscribers: bool
    postmortem_notified_twitter: bool
    postmortem_published_at: str | None
    scheduled_for: str | None
    scheduled_until: str | None
    scheduled_remind_prior: bool
    scheduled_auto_in_progress: bool
    scheduled_auto_completed: bool
    reference: str | None
    backfilled: bool
    caused_by_id: str | None
    warnings: list[str] | None = None  # Heliograph: truth checks on the posted body


class IncidentFields(Schema):
    name: Text255 | None = None
    status: UpdateStatus | None = None
    body: UpdateBody | None = None
    impact_override: Impact | Literal[""] | None = None
    components: dict[Id, ComponentStatus] | None = None
    component_ids: list[Id] | None = None
    deliver_notifications: bool | None = None
    metadata: Metadata | None = None
    backfilled: bool | None = None
    backfill_date: Moment | None = None
    scheduled_for: Moment | None = None
    scheduled_until: Moment | None = None
    scheduled_remind_prior: bool | None = None
    scheduled_auto_in_progress: bool | None = None
    scheduled_auto_completed: bool | None = None
    # The spec: "Same as :scheduled_auto_transition_in_progress", i.e. scheduled_auto_in_progress.
    scheduled_auto_transition: bool | None = None
    reference: Text64 | None = None  # Heliograph: an internal number such as PR-2142
    started_at: Moment | None = None  # Heliograph: when the impact began


class IncidentIn(Schema):
    incident: IncidentFields


class IncidentCreateFields(IncidentFields):
    name: Text255  # the only field Statuspage requires


class IncidentCreateIn(Schema):
    incident: IncidentCreateFields


class IncidentUpdateFields(Schema):
    body: UpdateBody | None = None
    display_at: Moment | None = None
    deliver_notifications: bool | None = None
    wants_twitter_update: bool | None = None


class IncidentUpdateIn(Schema):
    incident_update: IncidentUpdateFields


class PostmortemOut(Schema):
    preview_key: str | None
    body: str | None
    body_updated_at: str | None
    body_draft: str | None
    body_draft_updated_at: str | None
    published_at: str | None
    notify_subscribers: bool
    notify_twitter: bool
    custom_tweet: str | None
    created_at: str | None
    updated_at: str | None


class PostmortemDraft(Schema):
    body_draft: LongText


class PostmortemIn(Schema):
    postmortem: PostmortemDraft


class PostmortemPublishFields(Schema):
    notify_subscribers: bool | None = None
    notify_twitter: bool | None = None
    custom_tweet: Text280 | None = None


class PostmortemPublishIn(Schema):
    postmortem: PostmortemPublishFields | None = None


# --- templates -----------------------------------------------------------------------------


class TemplateOut(Schema):
    id: str
    components: list[ComponentOut]
    name: str
    title: str
    body: str
    group_id: str | None
    update_status: UpdateStatus
    should_tweet: bool
    should_send_notifications: bool


class TemplateFields(Schema):
    name: Text255 | None = None
    title: Text255 | None = None
    body: UpdateBody | None = None
    group_id: Id | None = None
    update_status: UpdateStatus | None = None
    should_tweet: bool | None = None
    should_send_notifications: bool | None = None
    component_ids: list[Id] | None = None


class TemplateIn(Schema):
    template: TemplateFields


class TemplateCreateFields(TemplateFields):
    name: Text255
    title: Text255
    body: UpdateBody


class TemplateCreateIn(Schema):
    template: TemplateCreateFields


# --- uptime and Heliograph's extensions ----------------------------------------------------


class RelatedEvent(Schema):
    id: str


class UptimeOut(Schema):
    id: str
    name: str
    range_start: str | None
    range_end: str | None
    uptime_percentage: float
    major_outage: int
    partial_outage: int
    warnings: list[str]
    related_events: list[RelatedEvent]


class ChangeOut(Schema):
    id: str
    page_id: str
    title: str
    at: str | None
    source: ChangeSource
    link: str | None
    component_ids: list[str]
    actor: str
    created_at: str | None


class ChangeFields(Schema):
    title: Text255
    at: Moment | None = None
    source: ChangeSource = "deploy"
    link: Text1000 | None = None
    component_ids: list[Id] | None = None


class ChangeIn(Schema):
    change: ChangeFields


class ImpactWindowOut(Schema):
    component_id: str
    component_name: str
    start: str | None
    end: str | None  # null while the component is still impaired
    worst_status: ComponentStatus
    duration_seconds: int


class ImpactWindowsOut(Schema):
    incident_id: str
    total_duration_seconds: int
    windows: list[ImpactWindowOut]


class ReopenFields(Schema):
    body: UpdateBody
    status: Literal["investigating", "identified", "monitoring"] = "investigating"
    components: dict[Id, ComponentStatus] | None = None
    deliver_notifications: bool | None = None


class ReopenIn(Schema):
    incident: ReopenFields


class CauseFields(Schema):
    id: Id | None = None  # a maintenance or change id; null unlinks


class CauseIn(Schema):
    caused_by: CauseFields


class Paging(Schema):
    page: int = Field(1, ge=1, le=1_000_000, description="Page offset to fetch, from 1")
    per_page: int = Field(
        100, ge=1, le=1_000_000, description="Results per page (at most 100 are returned)"
    )
