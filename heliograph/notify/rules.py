"""The pure rules of notification delivery: no Django here, tested directly.

Backoff schedule, the webhook quarantine rule, the webhook signature, the RFC 8058 / RFC
2919 header values.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

# --- retries ------------------------------------------------------------------------------

BACKOFF_BASE = 30.0  # seconds before the first retry
BACKOFF_CAP = 3600.0  # never wait more than an hour between attempts
JITTER = 0.25  # ± this fraction, so a relay that comes back is not hit by one wave
MAX_ATTEMPTS = 8  # 30 s … 1 h: about 2 h of trying before a delivery is given up


def retry_delay(attempts: int, rand: float) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1-based).

    ``rand`` in [0, 1) is the caller's randomness, so the rule stays deterministic.
    """
    if attempts < 1:
        raise ValueError("attempts counts failures so far and starts at 1")
    nominal = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempts - 1, 32))
    return nominal * (1 - JITTER + 2 * JITTER * rand)


def gives_up(attempts: int, max_attempts: int = MAX_ATTEMPTS) -> bool:
    """After this many failed attempts the delivery is recorded as failed for good."""
    return attempts >= max_attempts


# --- quarantine ---------------------------------------------------------------------------

QUARANTINE_FAILURES = 10
QUARANTINE_WINDOW = timedelta(hours=1)


def recent_failures(failures: Iterable[datetime], now: datetime) -> list[datetime]:
    """The failures still inside the window, oldest first (older ones are forgotten)."""
    since = now - QUARANTINE_WINDOW
    return sorted(f for f in failures if since < f <= now)


def should_quarantine(failures: Iterable[datetime], now: datetime) -> bool:
    """Statuspage's rule: 10 failures within an hour quarantine a webhook."""
    return len(recent_failures(failures, now)) >= QUARANTINE_FAILURES


# --- webhook signature --------------------------------------------------------------------

SIGNATURE_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body>``, the X-Heliograph-Signature value."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header.strip())


# --- mail list headers --------------------------------------------------------------------

ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058 List-Unsubscribe-Post value


def list_unsubscribe(url: str, mailto: str | None = None) -> str:
    """RFC 2369 header: the https one-click URL first (RFC 8058 requires one), mailto next."""
    if not url.startswith("https://") and not url.startswith("http://"):
        raise ValueError("the one-click unsubscribe target must be an http(s) URL")
    entries = [url] + ([f"mailto:{mailto}?subject=unsubscribe"] if mailto else [])
    return ", ".join(f"<{e}>" for e in entries)


_LABEL_JUNK = re.compile(r"[^a-z0-9-]+")


def list_id(page_name: str, page_id: str, host: str) -> str:
    """RFC 2919 ``"OpenSRS status" <abc123.status.example.com>``: stable per page."""
    label = _LABEL_JUNK.sub("-", page_id.lower()).strip("-") or "page"
    phrase = page_name.replace("\\", "").replace('"', "")
    return f'"{phrase} status" <{label}.{host.lower()}>'
