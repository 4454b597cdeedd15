"""``http``: one request; the status, optionally the body, and the time it took.

Config: ``url`` (required), ``method`` (GET), ``expect_status`` ("2xx"; also 200,
"200,204", "200-299", [200, "3xx"]), ``expect_body`` (a substring), ``expect_body_regex``,
``body`` (text sent), ``headers`` ({name: value}), ``verify_tls`` (true), ``ca_pem``
(certificates to trust instead of the system store), ``follow_redirects`` (true, at most
5 hops, each checked by the address guard), ``slow_ms`` (2000). Secrets:
``authorization`` (the Authorization header's value) and ``secret_header`` (one more
header that carries a credential, as ``Name: value``, e.g. ``X-Api-Key: …``).

Values: ``latency_ms`` (request sent to body read), ``status_code``.
Verdicts: ``fail`` on a connection or TLS error, a timeout, an unexpected status or body;
``slow`` when the answer took more than ``slow_ms``; else ``ok``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from heliograph.monitors.probes import common
from heliograph.monitors.probes.base import FAIL, OK, SLOW, ConfigError, ProbeSpec, Result

KIND = "http"
SECRET_FIELDS = ("authorization", "secret_header")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_SLOW_MS = 2000.0
KEYS = (
    "url", "method", "expect_status", "expect_body", "expect_body_regex", "body", "headers",
    "verify_tls", "ca_pem", "follow_redirects", "slow_ms", *SECRET_FIELDS,
)  # fmt: skip
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_STATUS = re.compile(r"^(?:([1-5])xx|(\d{3})(?:-(\d{3}))?)$", re.IGNORECASE)


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    common.only(config, KEYS)
    checked: dict[str, Any] = {
        "url": common.http_url(config),
        "method": common.choice(config, "method", "GET", METHODS),
        "expect_status": _status_spec(config.get("expect_status")),
        "expect_body": common.optional_text(config, "expect_body"),
        "expect_body_regex": _regex(config),
        "body": common.optional_text(config, "body"),
        "headers": _headers(config.get("headers")),
        "verify_tls": common.flag(config, "verify_tls", True),
        "ca_pem": common.ca_pem(config),
        "follow_redirects": common.flag(config, "follow_redirects", True),
        "slow_ms": common.positive(config, "slow_ms", DEFAULT_SLOW_MS),
    }
    if checked["method"] == "HEAD" and (checked["expect_body"] or checked["expect_body_regex"]):
        raise ConfigError("a HEAD request gets no body to match; use GET")
    if "authorization" in config:
        checked["authorization"] = common.optional_text(config, "authorization")
    return checked


def check_secrets(secrets: Mapping[str, str]) -> None:
    """``secret_header`` is ``Name: value``, checked like the other headers (its value is
    never echoed: it is a secret)."""
    value = secrets.get("secret_header")
    if not value:
        return
    name, colon, text = value.partition(":")
    if not colon or not name.strip() or not text.strip():
        raise ConfigError("secret_header must be written as 'Name: value', e.g. 'X-Api-Key: …'")
    _headers({name.strip(): text.strip()})


def _status_spec(value: Any) -> str:
    """Normalise to text such as "2xx" or "200,301-302"; ConfigError when unreadable."""
    if value is None or value == "":
        return "2xx"
    items = value if isinstance(value, list) else str(value).split(",")
    tokens = [str(item).strip() for item in items if str(item).strip()]
    if not tokens:
        raise ConfigError("expect_status must name at least one status")
    for token in tokens:
        _range(token)
    return ",".join(token.lower() for token in tokens)


def _range(token: str) -> tuple[int, int]:
    match = _STATUS.match(token)
    if not match:
        raise ConfigError(f"expect_status: {token!r} is not a status, a range (200-299) or 2xx")
    if match.group(1):
        low = int(match.group(1)) * 100
        return low, low + 99
    low = int(match.group(2))
    high = int(match.group(3) or low)
    if not 100 <= low <= high <= 599:
        raise ConfigError(f"expect_status: {token!r} is not a range of statuses 100-599")
    return low, high


def status_matches(spec: str, status: int) -> bool:
    return any(low <= status <= high for low, high in map(_range, spec.split(",")))


def _regex(config: Mapping[str, Any]) -> str | None:
    pattern = common.optional_text(config, "expect_body_regex")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"expect_body_regex is not a regular expression: {exc}") from None
    return pattern


def _headers(value: Any) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError('headers must be an object such as {"Accept": "application/json"}')
    headers = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ConfigError(f"headers: {name!r} is not a header name")
        if not isinstance(text, str) or "\r" in text or "\n" in text:
            raise ConfigError(f"headers: the value of {name} must be one line of text")
        if name.lower() == "host":
            raise ConfigError("headers: Host comes from the url")
        headers[name] = text
    return headers


async def probe(spec: ProbeSpec) -> Result:
    return await common.run(spec, check_config, _check)


async def _check(config: dict[str, Any], spec: ProbeSpec) -> Result:
    headers = dict(config["headers"])
    if token := spec.secrets.get("authorization"):
        headers["Authorization"] = token
    if extra := spec.secrets.get("secret_header"):
        name, _, text = extra.partition(":")
        headers[name.strip()] = text.strip()
    request = common.Request(
        url=config["url"],
        method=config["method"],
        headers=headers,
        content=config["body"].encode() if config["body"] else None,
        verify=config["verify_tls"],
        cadata=config["ca_pem"],
        follow_redirects=config["follow_redirects"],
    )
    start = time.perf_counter()
    try:
        response = await common.fetch(request, spec)
    except httpx.HTTPError as exc:
        return common.http_failure(config["url"], exc, spec.timeout)
    return judge(config, response, common.elapsed_ms(start))


def judge(config: dict[str, Any], response: common.Response, latency_ms: float) -> Result:
    values = {"latency_ms": latency_ms, "status_code": float(response.status)}
    status = f"HTTP {response.status} {response.reason}".strip()
    details: dict[str, Any] = {"url": response.url, "status": status}
    if response.redirects:
        details["redirected_from"] = response.redirects
    where = response.url
    if not status_matches(config["expect_status"], response.status):
        reason = f"{where} answered {status} (expected {config['expect_status']})"
        return Result(FAIL, reason, values, details)
    text = response.text() if config["expect_body"] or config["expect_body_regex"] else ""
    if config["expect_body"] and config["expect_body"] not in text:
        reason = f"{where} answered {status} without the expected text {config['expect_body']!r}"
        return Result(FAIL, reason, values, details)
    pattern = config["expect_body_regex"]
    if pattern and not re.search(pattern, text):
        reason = f"{where} answered {status}, but the body does not match /{pattern}/"
        return Result(FAIL, reason, values, details)
    if latency_ms > config["slow_ms"]:
        limit = config["slow_ms"]
        took = common.compared(latency_ms, limit)
        reason = f"{where} answered {status} in {took} ms (slow above {limit:g} ms)"
        return Result(SLOW, reason, values, details)
    return Result(OK, f"{where} answered {status} in {latency_ms:.0f} ms", values, details)
