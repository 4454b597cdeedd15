"""Creating users and changing their role or access, each change audited."""

from __future__ import annotations

import re
import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from heliograph.accounts.models import User
from heliograph.accounts.roles import OWNER, ROLES
from heliograph.audit import trail
from heliograph.lib.errors import InputError

MIN_PASSWORD = 10
USERNAME = re.compile(r"[\w.@+-]{1,150}")


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def check_password_strength(password: str, user: User | None = None) -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password needs at least {MIN_PASSWORD} characters")
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InputError(" ".join(exc.messages)) from None


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


def _picture(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "email": user.email,
        "role": user.role,
        "is_active": user.is_active,
    }


@transaction.atomic
def create_user(*, username: str, role: str, password: str, email: str = "", actor: str) -> User:
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise InputError("a username has 1 to 150 letters, digits or . @ - _")
    _check_role(role)
    if User.objects.filter(username__iexact=username).exists():
        raise InputError(f"a user named {username!r} already exists")
    check_password_strength(password)
    user = User(username=username, email=email.strip(), role=role)
    user.set_password(password)
    user.save()
    trail.record(actor=actor, action="user.create", target=user, after=_picture(user))
    return user


def _owners_left(excluding: User) -> int:
    return User.objects.filter(role=OWNER, is_active=True).exclude(pk=excluding.pk).count()


@transaction.atomic
def set_role(*, user: User, role: str, actor: str) -> User:
    _check_role(role)
    if user.role == OWNER and role != OWNER and _owners_left(user) == 0:
        raise InputError("the last active owner cannot lose the owner role")
    before = _picture(user)
    user.role = role
    user.save(update_fields=["role"])
    trail.record(actor=actor, action="user.role", target=user, before=before, after=_picture(user))
    return user


@transaction.atomic
def set_active(*, user: User, active: bool, actor: str) -> User:
    if not active and user.role == OWNER and _owners_left(user) == 0:
        raise InputError("the last active owner cannot be deactivated")
    before = _picture(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    action = "user.activate" if active else "user.deactivate"
    trail.record(actor=actor, action=action, target=user, before=before, after=_picture(user))
    return user
