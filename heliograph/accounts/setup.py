"""First run: with no user yet, a one-time link creates the owner."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from heliograph.accounts.models import SetupToken, User
from heliograph.accounts.roles import OWNER
from heliograph.accounts.users import create_user
from heliograph.lib.errors import InputError

LIFETIME = timedelta(hours=24)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def first_run_hint() -> str | None:
    """The line to print at start-up while nobody can log in, else None."""
    if User.objects.exists():
        return None
    token = secrets.token_urlsafe(24)
    now = timezone.now()
    # Each start issues a fresh link; older unused ones stay valid until they expire.
    SetupToken.objects.create(token_hash=_hash(token), created_at=now, expires_at=now + LIFETIME)
    return (
        f"No users yet: open {settings.BASE_URL}/console/setup/{token} to create the owner "
        f"(or run: heliograph createuser NAME --role owner)"
    )


def token_is_usable(token: str) -> bool:
    return _usable(token).exists() and not User.objects.exists()


def _usable(token: str) -> QuerySet[SetupToken]:
    return SetupToken.objects.filter(
        token_hash=_hash(token), used_at__isnull=True, expires_at__gt=timezone.now()
    )


@transaction.atomic
def create_owner(*, token: str, username: str, password: str, email: str = "") -> User:
    """Spend the token on the first owner; refused once anyone exists."""
    row = _usable(token).select_for_update().first()
    if row is None or User.objects.exists():
        raise InputError("this setup link has expired or was already used")
    user = create_user(username=username, role=OWNER, password=password, email=email, actor="setup")
    SetupToken.objects.filter(used_at__isnull=True).update(used_at=timezone.now())
    return user
