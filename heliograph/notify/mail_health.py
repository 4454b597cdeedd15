"""Whether e-mail goes out, said plainly: for the start-up line, the console's dashboard,
the public subscribe form and ``heliograph mail test``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

import aiosmtplib
from django.conf import settings

from heliograph.notify.models import EMAIL, SENT, DeliveryAttempt
from heliograph.notify.smtp_config import Relay, client_for, mail_from, relays

NO_RELAY = (
    "Subscribers are not being e-mailed: no SMTP relay is configured (set HELIOGRAPH_SMTP_URL)"
)


def configured() -> bool:
    return bool(settings.HELIOGRAPH_SMTP_URL)


@dataclass(frozen=True)
class Failing:
    """The relay's answer to the latest e-mail attempt, which failed."""

    answer: str
    at: datetime


def failing() -> Failing | None:
    """The last e-mail attempt's answer when it failed (none since succeeded)."""
    latest = (
        DeliveryAttempt.objects.filter(delivery__subscriber__kind=EMAIL)
        .order_by("-id")  # the newest by its key's index: no sort of every attempt
        .values_list("outcome", "error", "at")
        .first()
    )
    if latest is None or latest[0] == SENT:
        return None
    return Failing(latest[1] or "no answer", latest[2])


def test_message(address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = mail_from(), address
    message["Subject"] = "Heliograph test e-mail"
    message.set_content(
        f"This is a test from the status page at {settings.BASE_URL}.\n"
        "If you can read it, e-mail to subscribers goes out.\n"
    )
    return message


async def send_test(address: str) -> list[tuple[Relay, bool, str]]:
    """Send one test message, through the relays in order until one takes it: each
    relay tried, whether it took the message, and its exact answer."""
    tried = []
    for relay in relays():
        client = client_for(relay)
        try:
            async with client:
                refused, answer = await client.send_message(test_message(address))
            if refused:
                tried.append((relay, False, "; ".join(f"{r[0]} {r[1]}" for r in refused.values())))
                continue
            tried.append((relay, True, answer))
            break
        except aiosmtplib.SMTPResponseException as exc:
            tried.append((relay, False, f"{exc.code} {exc.message}"))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            tried.append((relay, False, str(exc) or type(exc).__name__))
    return tried
