"""API keys: created once (shown once), stored hashed, scoped, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from heliograph.accounts.models import ApiKey, User
from heliograph.audit import trail
from heliograph.catalog.models import Page
from heliograph.lib.errors import InputError

PREFIX = "hg_"
LAST_USED_PRECISION = timedelta(minutes=1)  # don't write on every request


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def create_key(
    *,
    name: str,
    scope: str = ApiKey.WRITE,
    page: Page | None = None,
    created_by: User | None = None,
    actor: str = "cli",
) -> tuple[ApiKey, str]:
    """Returns the key row and the raw key, which is never stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 255:
        raise InputError("a key name must have 1 to 255 characters")
    if scope not in (ApiKey.READ, ApiKey.WRITE):
        raise InputError(f"unknown scope {scope!r}; use read or write")
    raw = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name,
        key_hash=hash_key(raw),
        prefix=raw[:10],
        scope=scope,
        page=page,
        created_by=created_by,
    )
    trail.record(
        actor=actor,
        action="apikey.create",
        target=key,
        page_id=key.page_id,
        after={"name": name, "scope": scope, "page": key.page_id},
    )
    return key, raw


def authenticate(raw: str) -> ApiKey | None:
    """The active key for a raw key string, noting when it was last used."""
    key = ApiKey.objects.filter(key_hash=hash_key(raw), revoked_at__isnull=True).first()
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


@transaction.atomic
def revoke_key(*, key: ApiKey, actor: str) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        trail.record(actor=actor, action="apikey.revoke", target=key, page_id=key.page_id)
