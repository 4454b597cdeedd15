"""``heliograph mail test ADDRESS``: send one message and print each relay's answer."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import CommandError, CommandParser

from heliograph.lib.command import HeliographCommand
from heliograph.notify import mail_health


class Command(HeliographCommand):
    help = "Check that e-mail to subscribers goes out."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        test = actions.add_parser("test", help="send one test e-mail and print the relay's answer")
        test.add_argument("address", help="where to send it")

    def handle(self, *args: Any, **options: Any) -> None:
        if not mail_health.configured():
            raise CommandError(mail_health.NO_RELAY)
        tried = asyncio.run(mail_health.send_test(options["address"]))
        for relay, took, answer in tried:
            self.stdout.write(f"{relay}: {'accepted' if took else 'refused'}: {answer}")
        if not any(took for _, took, _ in tried):
            raise CommandError("no relay accepted the test e-mail")
