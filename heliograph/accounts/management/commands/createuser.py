import getpass
import sys
from typing import Any

from django.core.management.base import CommandParser

from heliograph.accounts.roles import ROLES
from heliograph.accounts.users import create_user, generate_password
from heliograph.lib.command import HeliographCommand
from heliograph.lib.errors import InputError


def read_password(from_stdin: bool) -> tuple[str, bool]:
    """The password and whether it was generated (and so must be printed)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    # Prompt only with a person at a terminal; scripts get a generated password, printed.
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return generate_password(), True
    first = getpass.getpass("Password (empty to generate one): ")
    if not first:
        return generate_password(), True
    if getpass.getpass("Password again: ") != first:
        raise InputError("the two passwords differ")
    return first, False


class Command(HeliographCommand):
    help = "Create a console user (owner, admin, responder or viewer)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input",
        )
        self.add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        password, generated = read_password(options["password_stdin"])
        user = create_user(
            username=options["username"],
            role=options["role"],
            email=options["email"],
            password=password,
            actor="cli",
        )
        data: dict[str, Any] = {"id": user.pk, "username": user.username, "role": user.role}
        text = f"Created {user.role} {user.username!r}"
        if generated:
            data["password"] = password
            text += f"\nPassword (shown once): {password}"
        self.emit(options, data, text)
