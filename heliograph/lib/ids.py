"""Identifiers shaped like Statuspage's: 12 characters of lowercase base36."""

import os
import string

ALPHABET = string.digits + string.ascii_lowercase
# Random bytes below 252 (7 × 36) map evenly onto the 36 characters; the rest are dropped.
_ID_CHARS = bytes.maketrans(bytes(range(252)), (ALPHABET * 7).encode())
_UNEVEN = bytes(range(252, 256))


def new_ids(count: int) -> list[str]:
    """``count`` ids drawn in one go (bulk imports make 100,000 at once)."""
    drawn = b""
    while len(drawn) < count * 12:
        drawn += os.urandom(count * 13).translate(_ID_CHARS, _UNEVEN)
    text = drawn.decode()
    return [text[i : i + 12] for i in range(0, count * 12, 12)]


def new_id() -> str:
    return new_ids(1)[0]
