"""Identifiers shaped like Statuspage's: 12 characters of lowercase base36."""

import secrets
import string

ALPHABET = string.digits + string.ascii_lowercase


def new_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(12))
