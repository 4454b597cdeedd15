"""Recording changes in the audit log (call inside the writing transaction)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.forms.models import model_to_dict

from heliograph.audit.models import AuditEvent


def snapshot(instance: models.Model) -> dict[str, Any]:
    """A JSON-safe picture of a row, for an event's before/after."""
    data = model_to_dict(instance)
    return {k: _plain(v) for k, v in data.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, str | int | float | bool | dict) or value is None:
        return value
    return str(value)


def record(
    *,
    actor: str,
    action: str,
    target: models.Model,
    page_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor or "system",
        action=action,
        target_type=target._meta.model_name or "",
        target_id=str(target.pk),
        page_id=page_id,
        before=before,
        after=after,
    )
