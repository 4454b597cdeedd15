"""What the network probes share: config checks, the address guard, TLS contexts, one
guarded HTTP fetch, and the wrapper that turns timeouts and refusals into results.

Every probe runs through :func:`run`: the config is checked (a bad one is ``unknown``:
the prober's fault), the whole check gets the monitor's hard timeout (``fail``: "no answer
within N s"), a target the operator has not allowed is ``unknown`` (naming the setting
that allows it), a host that does not resolve is ``fail``, and the secrets are scrubbed
from whatever the result says.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import functools
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from heliograph.lib import netguard, networks
from heliograph.monitors.probes.base import FAIL, UNKNOWN, ConfigError, ProbeSpec, Result

log = logging.getLogger(__name__)
ALLOW_SETTING = netguard.ALLOW_SETTING
USER_AGENT = "Heliograph-Probe/1"
ANYWHERE: tuple[networks.Network, ...] = (
    ipaddress.ip_network("0.0.0.0/0"),
    ipaddress.ip_network("::/0"),
)
MAX_BODY = 1 << 20  # bytes of a response body kept for matching
MAX_REDIRECTS = 5

Config = Mapping[str, Any]
Check = Callable[[Config], dict[str, Any]]
Body = Callable[[dict[str, Any], ProbeSpec], Awaitable[Result]]


class Unresolvable(Exception):
    """The target's name does not resolve: the service's problem, so ``fail``."""


# --- config checks --------------------------------------------------------------------------


def only(config: Config, keys: Iterable[str]) -> None:
    """ConfigError for a setting this kind does not know (a typo would be ignored)."""
    if not isinstance(config, Mapping):
        raise ConfigError("the settings must be a JSON object")
    known = sorted(set(keys))
    unknown = sorted(str(k) for k in config if k not in known)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}; this kind knows: {', '.join(known)}")


def required_text(config: Config, key: str) -> str:
    value = optional_text(config, key)
    if value is None:
        raise ConfigError(f"{key} is required")
    return value


def optional_text(config: Config, key: str) -> str | None:
    value = config.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be text, not {type(value).__name__}")
    return value.strip()


def number(
    config: Config, key: str, default: float | None, *, low: float = 0.0, high: float | None = None
) -> float | None:
    """A number (JSON number or numeric text) in [low, high]; None when unset and no default."""
    value = config.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{key} must be a number")
    try:
        result = float(value)
    except ValueError:
        raise ConfigError(f"{key} must be a number, not {value!r}") from None
    if result != result or result < low or (high is not None and result > high):
        bound = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(f"{key} must be a number {bound}, not {value!r}")
    return result


def positive(config: Config, key: str, default: float) -> float:
    value = number(config, key, default, low=0.0)
    assert value is not None
    if value <= 0:
        raise ConfigError(f"{key} must be more than 0")
    return value


def whole(config: Config, key: str, default: int, *, low: int, high: int) -> int:
    value = number(config, key, default, low=low, high=high)
    assert value is not None
    if value != int(value):
        raise ConfigError(f"{key} must be a whole number from {low} to {high}")
    return int(value)


def port(config: Config, key: str = "port", default: int | None = None) -> int:
    value = config.get(key)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"{key} is required (1-65535)")
        return default
    try:
        return whole(config, key, default or 1, low=1, high=65535)
    except ConfigError:
        raise ConfigError(f"{key} must be a whole number from 1 to 65535, not {value!r}") from None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def flag(config: Config, key: str, default: bool) -> bool:
    value = config.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{key} must be true or false, not {value!r}")


def choice(config: Config, key: str, default: str, options: Sequence[str]) -> str:
    value = optional_text(config, key) or default
    for option in options:
        if value.lower() == option.lower():
            return option
    raise ConfigError(f"{key} must be one of {', '.join(options)}, not {value!r}")


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def host(config: Config, key: str = "host") -> str:
    """A DNS name or an IP address (IPv6 with or without brackets)."""
    value = required_text(config, key)
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    name = value.rstrip(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise ConfigError(f"{key} must be a host name or an IP address, not {value!r}")
    return name


def http_url(config: Config, key: str = "url") -> str:
    value = required_text(config, key)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key} must be an http:// or https:// URL, not {redact(value)!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"{key} has a bad port: {redact(value)!r}") from None
    return value


def ca_pem(config: Config, key: str = "ca_pem") -> str | None:
    """PEM certificates to trust instead of the system store (a private CA)."""
    value = optional_text(config, key)
    if value is None:
        return None
    try:
        ssl.create_default_context(cadata=value)
    except (ssl.SSLError, ValueError):
        raise ConfigError(
            f"{key} must hold PEM certificates (-----BEGIN CERTIFICATE-----)"
        ) from None
    return value


def ordered(config: dict[str, Any], lower: str, higher: str) -> None:
    """ConfigError unless config[lower] < config[higher] (when both are set)."""
    a, b = config.get(lower), config.get(higher)
    if a is not None and b is not None and not a < b:
        raise ConfigError(f"{lower} ({a:g}) must be less than {higher} ({b:g})")


# --- results ----------------------------------------------------------------------------------


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def _side(a: float, b: float) -> int:
    return (a > b) - (a < b)


def _honest(candidates: Iterable[str], value: float, limit: float) -> str:
    """The first way of writing ``value`` that is on the same side of ``limit`` as it is
    (and equal to it only when it is equal); the exact value when none is."""
    for shown in candidates:
        if _side(float(shown), limit) == _side(value, limit):
            return shown
    return repr(value)


def compared(value: float, limit: float, places: int = 0) -> str:
    """``value`` with ``places`` decimals for a reason that sets it against ``limit`` (written
    ``{limit:g}``), or with as many more as it takes not to land on the limit or across it:
    3.009 s against an ok threshold of 3 s is "3.01", never "3.0", which reads as the
    threshold itself ("delivered in 3.0 s, above the ok threshold (3.0 s)")."""
    return _honest((f"{value:.{d}f}" for d in range(places, 13)), value, limit)


def exact(limit: float) -> str:
    """A threshold as configured: ``{limit:g}``, unless that rounds it (0.12345678)."""
    short = f"{limit:g}"
    return short if float(short) == limit else repr(float(limit))


def compared_g(value: float, limit: float) -> str:
    """``compared`` for numbers of any size: ``{value:g}``, or more significant digits."""
    return _honest((f"{value:.{d}g}" for d in range(6, 18)), value, limit)


def no_answer(timeout: float, waiting_for: str = "") -> Result:
    suffix = f" ({waiting_for})" if waiting_for else ""
    return Result(FAIL, f"no answer within {timeout:g} s{suffix}")


def redact(url: str) -> str:
    """The URL without a password in it, for reasons and details."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def scrub(result: Result, secrets: Iterable[str]) -> Result:
    """Replace every secret value in the reason and details (belt and braces)."""
    found = sorted((s for s in secrets if isinstance(s, str) and len(s) >= 3), key=len)[::-1]
    if not found:
        return result

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            for secret in found:
                value = value.replace(secret, "[secret]")
            return value
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return Result(result.verdict, clean(result.reason), result.values, clean(result.details))


async def run(
    spec: ProbeSpec, check: Check, body: Body, on_timeout: Callable[[], Result] | None = None
) -> Result:
    """Check the config, then run ``body`` under the hard timeout (see the module doc)."""
    try:
        config = check(spec.config)
    except ConfigError as exc:
        return Result(UNKNOWN, f"the monitor's settings are unusable: {exc}")
    try:
        async with asyncio.timeout(spec.timeout):
            result = await body(config, spec)
    except TimeoutError:
        result = on_timeout() if on_timeout else no_answer(spec.timeout)
    except netguard.Refused as exc:
        result = Result(UNKNOWN, f"not probed: {exc}")
    except Unresolvable as exc:
        result = Result(FAIL, str(exc))
    return scrub(result, spec.secrets.values())


# --- the address guard ------------------------------------------------------------------------


def allow_list(allowed: Sequence[networks.Network] | None) -> list[networks.Network]:
    """The allow-list as netguard takes it (None: the operator allows any address)."""
    return list(ANYWHERE if allowed is None else allowed)


def check_address(name: str, address: str, allowed: Sequence[networks.Network] | None) -> None:
    if networks.address_allowed(address, allow_list(allowed)):
        return
    what = address if name == address else f"{name} resolves to {address},"
    raise netguard.Refused(f"{what} a private or reserved address (allow it with {ALLOW_SETTING})")


async def pin_host(name: str, port: int, allowed: Sequence[networks.Network] | None) -> str:
    """Resolve ``name`` once, check every address, return the one to connect to."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Unresolvable(f"{name} does not resolve ({exc.strerror or exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise Unresolvable(f"{name} does not resolve")
    for address in addresses:
        check_address(name, address, allowed)
    return addresses[0]


async def pin_url(url: str, allowed: Sequence[networks.Network] | None) -> netguard.Target:
    try:
        return await netguard.resolve(url, allow_list(allowed))
    except netguard.Refused as exc:
        if isinstance(exc.__context__, OSError) or str(exc).endswith("does not resolve"):
            raise Unresolvable(str(exc)) from None
        raise


# --- TLS and errors ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def tls_context(verify: bool = True, cadata: str | None = None) -> ssl.SSLContext:
    """One shared context per setting: loading the system store costs milliseconds."""
    context = ssl.create_default_context(cadata=cadata) if cadata else ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
        else:
            current = current.__cause__ or current.__context__


_ERRNO = {
    errno.ECONNREFUSED: "the connection was refused",
    errno.ECONNRESET: "the connection was reset",
    errno.EHOSTUNREACH: "the host is unreachable",
    errno.ENETUNREACH: "the network is unreachable",
}


def describe(exc: BaseException) -> str:
    """A short sentence for a network error, from the most telling cause in its chain."""
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the TLS certificate was not accepted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed ({cause.reason or cause})"
        if isinstance(cause, OSError) and cause.errno in _ERRNO:
            return _ERRNO[cause.errno]
        if isinstance(cause, asyncio.IncompleteReadError | EOFError):
            return "the server closed the connection"
    text = str(exc).strip()
    return text if text else type(exc).__name__


# --- HTTP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    encoding: str
    url: str  # the last URL asked (after redirects), without a password
    redirects: list[str] = field(default_factory=list)

    def text(self) -> str:
        return self.body.decode(self.encoding or "utf-8", "replace")


@dataclass(frozen=True)
class Request:
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    verify: bool = True
    cadata: str | None = None
    follow_redirects: bool = False


TlsSetting = tuple[bool, str | None]  # (verify, cadata)
_SHARED: contextvars.ContextVar[dict[TlsSetting, httpx.AsyncClient] | None] = (
    contextvars.ContextVar("heliograph_probe_clients", default=None)
)


def _client(setting: TlsSetting) -> httpx.AsyncClient:
    """A client that keeps no cookies (each fetch keeps its own) and no idle connection:
    every check connects afresh to the address it pinned, so its latency includes the
    connection and TLS handshake, a server that stopped accepting connections fails, and
    a TLS connection verified for one name never carries a request for another."""
    return httpx.AsyncClient(
        verify=tls_context(*setting),
        follow_redirects=False,
        trust_env=False,
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
    )


@contextlib.asynccontextmanager
async def shared_clients() -> AsyncIterator[None]:
    """While this lasts, HTTP fetches in this task and the tasks it starts share one client
    per TLS setting instead of building and closing one per check (the scheduler's loop)."""
    clients: dict[TlsSetting, httpx.AsyncClient] = {}
    token = _SHARED.set(clients)
    try:
        yield
    finally:
        _SHARED.reset(token)
        for client in clients.values():
            await client.aclose()


async def fetch(request: Request, spec: ProbeSpec) -> Response:
    """One request, every hop pinned by netguard; raises httpx errors, Refused, Unresolvable."""
    setting = (request.verify, request.cadata)
    shared = _SHARED.get()
    if shared is None:
        async with _client(setting) as client:
            return await _fetch(client, request, spec)
    client = shared.get(setting) or shared.setdefault(setting, _client(setting))
    return await _fetch(client, request, spec)


async def _fetch(client: httpx.AsyncClient, request: Request, spec: ProbeSpec) -> Response:
    url, method, content = request.url, request.method, request.content
    headers = {"User-Agent": USER_AGENT, **request.headers}
    redirects: list[str] = []
    cookies = httpx.Cookies()  # the ones the hops of this fetch set, as a browser keeps them
    for hop in range(MAX_REDIRECTS + 1):
        response, body = await _send(client, url, method, headers, content, spec, cookies)
        location = response.headers.get("location")
        if not (request.follow_redirects and response.is_redirect and location):
            break
        if hop == MAX_REDIRECTS:
            break
        redirects.append(redact(url))
        following = urljoin(url, location)
        if urlsplit(following).netloc != urlsplit(url).netloc:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        if response.status_code in (301, 302, 303) and method not in ("GET", "HEAD"):
            method, content = "GET", None
        url = following
    return Response(
        status=response.status_code,
        reason=response.reason_phrase,
        headers=response.headers,
        body=body,
        encoding=response.encoding or "utf-8",
        url=redact(url),
        redirects=redirects,
    )


async def _send(
    client: httpx.AsyncClient,
    url: str,
    method: str,
    headers: Mapping[str, str],
    content: bytes | None,
    spec: ProbeSpec,
    cookies: httpx.Cookies,
) -> tuple[httpx.Response, bytes]:
    target = await pin_url(url, spec.allowed)
    extensions = {"sni_hostname": target.server_name} if url.startswith("https") else {}
    outgoing = client.build_request(
        method,
        target.url,
        headers={**headers, "Host": target.host_header},
        content=content,
        cookies=cookies,
        timeout=spec.timeout,
        extensions=extensions,
    )
    response = await client.send(outgoing, stream=True)
    log.debug("probe %s %s: HTTP %s", method, redact(url), response.status_code)
    cookies.extract_cookies(response)
    try:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_BODY:
                break
    finally:
        await response.aclose()
    return response, b"".join(chunks)[:MAX_BODY]


def http_failure(url: str, exc: httpx.HTTPError, timeout: float) -> Result:
    if isinstance(exc, httpx.TimeoutException):
        return no_answer(timeout)
    return Result(FAIL, f"{redact(url)}: {describe(exc)}")
