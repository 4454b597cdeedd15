"""What a monitor's settings may hold, before the kind's own checks (``monitors.services``
calls these; architecture: Monitors).

* JSON both databases store: no NaN, no NUL, no dates, not nested too deeply, whole numbers
  within ±2**53.
* No credential where it would be shown: settings appear in the console, the API and the
  audit log, so a password in a URL, a credential header, or a header or URL query
  parameter whose name says it carries one is refused, pointing at the kind's secret.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from heliograph.lib.errors import InputError

MAX_WHOLE = 2**53  # beyond it a number is not exact in JSON, nor convertible to a float
MAX_DEPTH = 12
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
# A word of a header or query parameter name that says it carries a credential: X-Api-Key,
# X-Auth-Token, access_token, sig, JSESSIONID. Whole words, so "keyword" or "author" pass.
_SECRET_WORD = re.compile(
    r"(key|token|secret|passw(or)?d|pwd|signature|sig|cookie|session(id)?|sessid|credentials?)$"
    r"|^auth(?!ors?$)"
)


def looks_secret(name: str) -> bool:
    """Whether a header or query parameter name says it carries a credential."""
    return any(_SECRET_WORD.search(word) for word in re.split(r"[^a-z0-9]+", name.lower()))


def _instead(secrets: tuple[str, ...]) -> str:
    """Where a credential goes instead of the settings (which are shown back)."""
    if "authorization" in secrets:
        return (
            "give a token as the authorization secret (sent as the Authorization header), or "
            "the whole header as the secret_header secret ('X-Api-Key: …')"
        )
    if secrets:
        return f"give it as the {secrets[0]} secret"
    return "this kind keeps no secrets: probe an address that needs no credential"


def refuse_inline_credentials(config: Mapping[str, Any], secrets: tuple[str, ...]) -> None:
    where = f"the {secrets[0]} secret" if secrets else "a secret"
    shown = "settings are shown in the console, the API and the audit log"
    for key, value in config.items():
        if not (isinstance(value, str) and "://" in value):
            continue
        if _has_password(value):
            raise InputError(f"config.{key}: put the password in {where}, not in the URL")
        if found := next((p for p in _query_names(value) if looks_secret(p)), None):
            raise InputError(
                f"config.{key}: the query parameter {found!r} looks like a credential, and "
                f"{shown}; {_instead(secrets)}"
            )
    headers = config.get("headers")
    for name in headers if isinstance(headers, Mapping) else ():
        if isinstance(name, str) and name.lower() in CREDENTIAL_HEADERS:
            raise InputError(f"config.headers: give {name} as {where}, not as a header")
        if isinstance(name, str) and looks_secret(name):
            raise InputError(
                f"config.headers: {name} looks like a credential, and {shown}; {_instead(secrets)}"
            )


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def _query_names(url: str) -> list[str]:
    try:
        return [name for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)]
    except ValueError:  # the kind's own check says what is wrong with the URL
        return []


def check_json(value: Any, where: str, depth: int = 0) -> None:
    """JSON both databases store: no NaN, no NUL, no dates, not too deep."""
    if depth > MAX_DEPTH:
        raise InputError(f"{where}: nested too deeply")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(f"{where}: keys must be text")
            check_text(key, where)
            check_json(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, f"{where}[{index}]", depth + 1)
    elif isinstance(value, str):
        check_text(value, where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: numbers must be finite")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WHOLE:
        raise InputError(f"{where}: too large a number (at most {MAX_WHOLE:,} either way)")
    elif value is not None and not isinstance(value, bool | int | float):
        raise InputError(f"{where}: {type(value).__name__} is not allowed; write text or a number")


def check_text(value: str, where: str) -> None:
    if "\x00" in value:
        raise InputError(f"{where}: text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: text must be valid Unicode") from None
