"""Input checks for the catalog services: each returns the clean value or raises InputError.

Messages are one line, fit to show a user as they are (CLI, console, API ``message``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from heliograph.catalog.models import Component, ComponentGroup, Page
from heliograph.catalog.status import COMPONENT_STATUSES
from heliograph.lib.errors import InputError

Check = Callable[[Any], Any]
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")


def check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InputError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
        ) from None
    return name


def check_status(status: str) -> str:
    if status not in COMPONENT_STATUSES:
        raise InputError(
            f"unknown component status {status!r}; use one of {', '.join(COMPONENT_STATUSES)}"
        )
    return status


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 255:
        raise InputError("a name must have 1 to 255 characters")
    return name.strip()


def check_text(field: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise InputError(f"{field} must be text")
        return value

    return check


def check_bool(field: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise InputError(f"{field} must be true or false")
        return value

    return check


def check_weight(field: str) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise InputError(f"{field} must be a number from 0 to 1")
        return float(value)

    return check


def check_position(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError("a position must be a whole number of 0 or more")
    return value


def check_url(value: Any) -> str:
    if not isinstance(value, str):
        raise InputError("a url must be text")
    if value:
        try:
            URLValidator(schemes=["http", "https"])(value)
        except ValidationError:
            raise InputError(f"{value!r} is not an http(s) URL") from None
    return value


def check_domain(exclude_page_pk: str | None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        domain = value.strip().lower().rstrip(".") if isinstance(value, str) else None
        if domain is None or (domain and not _HOSTNAME.match(domain)):
            raise InputError(f"{value!r} is not a host name such as status.example.com")
        # Nodes map the Host header to one page, so two pages cannot share a domain.
        taken = Page.objects.filter(domain=domain).exclude(pk=exclude_page_pk)
        if domain and taken.exists():
            raise InputError(f"another page already answers on {domain!r}")
        return domain

    return check


def unique_name(
    scope: models.QuerySet[Any], exclude_pk: str | None, taken: str
) -> Callable[[Any], str]:
    """A name free within ``scope``; ``taken`` starts the refusal, e.g. "a page"."""

    def check(value: Any) -> str:
        name = check_name(value)
        if scope.filter(name=name).exclude(pk=exclude_pk).exists():
            raise InputError(f"{taken} named {name!r} already exists")
        return name

    return check


def check_start_date(value: Any) -> date | None:
    if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
        raise InputError("a start date must be a date (YYYY-MM-DD) or empty")
    return value


def check_group(page: Page) -> Callable[[Any], ComponentGroup | None]:
    def check(value: Any) -> ComponentGroup | None:
        if value is None:
            return None
        if not isinstance(value, ComponentGroup):
            raise InputError("a group must be a component group or none")
        if value.page_id != page.pk:
            raise InputError(f"group {value.name!r} belongs to another page")
        return value

    return check


def check_members(page: Page, items: Any, what: str) -> list[Any]:
    """A list of distinct components (or groups) of ``page``."""
    model = Component if what == "component" else ComponentGroup
    if not isinstance(items, list | tuple) or not all(isinstance(i, model) for i in items):
        raise InputError(f"give a list of {what}s")
    for item in items:
        if item.page_id != page.pk:
            raise InputError(f"{what} {item.name!r} belongs to another page")
    seen: set[str] = set()
    for item in items:
        if item.pk in seen:
            raise InputError(f"{what} {item.name!r} is listed twice")
        seen.add(item.pk)
    return list(items)


def changed_fields(
    obj: models.Model, given: dict[str, Any], checks: dict[str, Check]
) -> dict[str, Any]:
    """The validated fields that differ from ``obj`` (arguments left as None are skipped)."""
    changes = {}
    for field, value in given.items():
        if value is None:
            continue
        clean = checks[field](value)
        if getattr(obj, field) != clean:
            changes[field] = clean
    return changes
