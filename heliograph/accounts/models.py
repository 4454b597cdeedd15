"""Users with roles, API keys (stored hashed) and one-time setup links."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from heliograph.accounts.roles import ROLES, VIEWER, can
from heliograph.catalog.models import Page


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=[(r, r) for r in ROLES], default=VIEWER)

    def can(self, permission: str) -> bool:
        return self.is_active and can(self.role, permission)


class ApiKey(models.Model):
    READ, WRITE = "read", "write"

    name = models.CharField(max_length=255)
    # sha256 of the key: keys are long random strings, so a fast hash cannot be brute-forced
    # and lookups stay one indexed query per request.
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="first characters, to recognise a key")
    scope = models.CharField(max_length=8, choices=[(READ, READ), (WRITE, WRITE)], default=WRITE)
    page = models.ForeignKey(Page, models.CASCADE, null=True, blank=True, related_name="api_keys")
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows(self, *, page_id: str, write: bool) -> bool:
        if not self.is_active or (self.page_id and self.page_id != page_id):
            return False
        return self.scope == self.WRITE or not write


class SetupToken(models.Model):
    """A one-time link that creates the first owner; only its hash is kept."""

    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
