"""CSV cells that a spreadsheet opens as text, never as a formula (OWASP: CSV injection).

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets; a single quote in front makes it text.
Every CSV Heliograph writes goes through ``safe_row``, and what it reads back through
``restore``, so an exported file imports unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Quotes before a formula start: a value that already began with quotes gets one more, so
# that ``restore`` can always take exactly one away.
_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")
_QUOTED = re.compile(r"''*[=+\-@\t\r]")


def neutralise(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if _NEEDS_QUOTE.match(text) else text


def restore(cell: str) -> str:
    """The value ``neutralise`` was given (cells it left alone come back as they are)."""
    return cell[1:] if _QUOTED.match(cell) else cell


def safe_row(values: Iterable[object]) -> list[str]:
    return [neutralise(value) for value in values]
