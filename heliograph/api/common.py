"""Lookups that answer 404, pagination, and the error responses every operation documents."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar, overload

from django.db.models import Model, QuerySet
from django.http import HttpRequest

from heliograph.accounts.models import ApiKey
from heliograph.api.errors import not_found
from heliograph.api.schemas import Message
from heliograph.catalog.models import Component, ComponentGroup, Page
from heliograph.incidents.models import Incident, IncidentTemplate, IncidentUpdate
from heliograph.lib.errors import InputError
from heliograph.monitors.models import Monitor

M = TypeVar("M", bound=Model)
T = TypeVar("T")
MAX_PER_PAGE = 100
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Every operation may answer these, and documents them so clients (and schemathesis) know.
ERRORS: dict[int, type[Message]] = {code: Message for code in (400, 401, 403, 404, 405, 422, 429)}


def responses(ok: int, schema: Any) -> dict[int, Any]:
    return {ok: schema, **ERRORS}


def plain_id(ref: str) -> bool:
    """Ids are short and plain; anything else cannot name a row (and must not reach the SQL)."""
    return bool(_ID.match(ref))


def _get(queryset: QuerySet[M], ref: str, what: str) -> M:
    found = queryset.filter(pk=ref).first() if plain_id(ref) else None
    if found is None:
        raise not_found(what)
    return found


def page_or_404(page_id: str) -> Page:
    return _get(Page.objects.all(), page_id, "page")


def component_or_404(page: Page, component_id: str) -> Component:
    return _get(page.components.all(), component_id, "component")


def group_or_404(page: Page, group_id: str) -> ComponentGroup:
    return _get(page.groups.all(), group_id, "component group")


def incident_or_404(page: Page, incident_id: str) -> Incident:
    return _get(page.incidents.all(), incident_id, "incident")


def update_or_404(incident: Incident, update_id: str) -> IncidentUpdate:
    return _get(incident.updates.all(), update_id, "incident update")


def template_or_404(page: Page, template_id: str) -> IncidentTemplate:
    return _get(page.incident_templates.all(), template_id, "incident template")


def monitor_or_404(page: Page, monitor_id: str) -> Monitor:
    return _get(page.monitors.all(), monitor_id, "monitor")


def components_named(page: Page, ids: Sequence[str]) -> list[Component]:
    """Components of the page for ids given in a body: unknown ones are bad input (422)."""
    by_id = {c.pk: c for c in page.components.filter(pk__in=[i for i in ids if plain_id(i)])}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise InputError(f"page {page.name!r} has no component with id {missing[0]!r}")
    return [by_id[i] for i in dict.fromkeys(ids)]


def group_named(page: Page, group_id: str | None) -> ComponentGroup | None:
    return _named(page.groups.all(), group_id, f"page {page.name!r} has no component group")


def component_named(page: Page, component_id: str | None) -> Component | None:
    return _named(page.components.all(), component_id, f"page {page.name!r} has no component")


def _named(queryset: QuerySet[M], ref: str | None, missing: str) -> M | None:
    """A row named in a body (none for null or empty); an unknown id is bad input (422)."""
    if ref is None or ref in ("", "null"):
        return None
    found = queryset.filter(pk=ref).first() if plain_id(ref) else None
    if found is None:
        raise InputError(f"{missing} with id {ref!r}")
    return found


@overload
def paginate(items: QuerySet[M], page: int, per_page: int) -> list[M]: ...
@overload
def paginate(items: Sequence[T], page: int, per_page: int) -> list[T]: ...
def paginate(items: Any, page: int, per_page: int) -> list[Any]:
    """Statuspage's ``page`` (from 1) and ``per_page`` (at most 100)."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    start = (max(page, 1) - 1) * per_page
    return list(items[start : start + per_page])


def api_key(request: HttpRequest) -> ApiKey:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    return key
