"""The fixture world's constants: the example report's clock, monitor and users."""

from __future__ import annotations

from datetime import UTC, datetime

from heliograph.accounts.models import User

# A fixed "now" for rendering, so day-based output does not depend on the clock.
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


# The settings of the "Inbound — Cluster A" mail round-trip monitor, without its password.
INBOUND_MAIL = {
    "smtp_host": "mx.cluster-a.example.net",
    "mail_from": "probe@example.org",
    "mail_to": "probe-a@example.net",
    "imap_host": "imap.example.net",
    "imap_username": "probe-a@example.net",
}
USER_PASSWORD = "correct horse battery"


def make_user(role: str, username: str | None = None) -> User:
    user = User(username=username or role, role=role)
    user.set_password(USER_PASSWORD)
    user.save()
    return user
