"""SMTP relays and the sender address, read lazily from Django settings or the environment.

``HELIOGRAPH_SMTP_URL`` / ``HELIOGRAPH_SMTP_FALLBACK_URL``::

    smtp://user:pass@host:587?starttls=1     plain connection, STARTTLS required
    smtp://host:25                           STARTTLS if the server offers it
    smtp://host:25?starttls=0                never STARTTLS (a local relay)
    smtps://user:pass@host:465               TLS from the first byte

Optional query parameters: ``timeout`` (seconds, default 30), ``verify=0`` (accept any
certificate; for relays on a private network only).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PRIMARY = "HELIOGRAPH_SMTP_URL"
FALLBACK = "HELIOGRAPH_SMTP_FALLBACK_URL"
MAIL_FROM = "HELIOGRAPH_MAIL_FROM"
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # smtps: implicit TLS
    start_tls: bool | None = None  # None: if offered
    timeout: float = 30.0
    validate_certs: bool = True

    def __str__(self) -> str:  # never shows the password (it ends up in last_error)
        scheme = "smtps" if self.use_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"


def client_for(relay: Relay) -> aiosmtplib.SMTP:
    """An unconnected SMTP client for ``relay``, with all its settings."""
    return aiosmtplib.SMTP(
        hostname=relay.host,
        port=relay.port,
        username=relay.username,
        password=relay.password,
        use_tls=relay.use_tls,
        start_tls=relay.start_tls,
        timeout=relay.timeout,
        validate_certs=relay.validate_certs,
    )


def setting(name: str) -> str:
    """A Django setting (settings.py reads each from the environment)."""
    return str(getattr(settings, name, "") or "").strip()


def parse_smtp_url(url: str, name: str = PRIMARY) -> Relay:
    """Read one relay URL; ImproperlyConfigured with a clear message when it is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ImproperlyConfigured(f"{name} must start with smtp:// or smtps://, not {url!r}")
    if not parts.hostname:
        raise ImproperlyConfigured(f"{name} has no host: write smtp://host:port")
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
        timeout = float(query.get("timeout", "30"))
        start_tls = _FLAGS[query["starttls"]] if "starttls" in query else None
        verify = _FLAGS[query.get("verify", "1")]
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"{name} has a bad port or option ({exc})") from None
    if parts.scheme == "smtps" and start_tls:
        raise ImproperlyConfigured(f"{name}: smtps:// is already TLS; drop starttls=1")
    return Relay(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=parts.scheme == "smtps",
        start_tls=False if parts.scheme == "smtps" else start_tls,
        timeout=timeout,
        validate_certs=verify,
    )


def relays() -> list[Relay]:
    """The primary relay, then the fallback; empty when mail is not configured."""
    found = []
    for name in (PRIMARY, FALLBACK):
        if url := setting(name):
            found.append(parse_smtp_url(url, name))
    if not setting(PRIMARY) and found:
        raise ImproperlyConfigured(f"{FALLBACK} is set but {PRIMARY} is not")
    return found


def mail_from() -> str:
    """``HELIOGRAPH_MAIL_FROM``, else ``noreply@`` the host of BASE_URL."""
    value = setting(MAIL_FROM) or f"noreply@{mail_domain()}"
    if "@" not in parseaddr(value)[1]:
        raise ImproperlyConfigured(f"{MAIL_FROM} must be an e-mail address, not {value!r}")
    return value


def mail_domain() -> str:
    return urlsplit(settings.BASE_URL).hostname or "localhost"
