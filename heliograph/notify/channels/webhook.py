"""Webhooks: the Statuspage-shaped JSON, signed, POSTed concurrently.

A 2xx answer within 30 s is success; anything else (3xx included: redirects are not
followed, as on Statuspage) is a failure that the outbox retries and counts towards
quarantine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from heliograph.notify import netguard, payloads, rules
from heliograph.notify.models import Delivery

TIMEOUT = 30.0
CONCURRENCY = 100
USER_AGENT = "Heliograph-Webhooks/1"
SIGNATURE_HEADER = "X-Heliograph-Signature"
DELIVERY_HEADER = "X-Heliograph-Delivery"

Result = str | None  # None = delivered; else why not


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


def build_request(delivery: Delivery) -> Request:
    subscriber = delivery.subscriber
    document = payloads.webhook_body(delivery.notification.payload, subscriber.unsubscribe_token)
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return Request(
        url=subscriber.endpoint,
        body=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: rules.sign(subscriber.signing_secret, body),
            DELIVERY_HEADER: str(delivery.pk),
        },
    )


async def post_batch(
    requests: Mapping[int, Request],
    concurrency: int = CONCURRENCY,
    timeout: float = TIMEOUT,
    allowed: list[rules.Network] | None = None,
) -> dict[int, Result]:
    """POST every request; returns, per key, None (2xx) or what went wrong."""
    allowed = netguard.allowed_networks() if allowed is None else allowed
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, limits=limits, trust_env=False
    ) as client:

        async def one(key: int, request: Request) -> tuple[int, Result]:
            async with gate:
                return key, await _post(client, request, allowed, timeout)

        done = await asyncio.gather(*(one(k, r) for k, r in requests.items()))
    return dict(done)


async def _post(
    client: httpx.AsyncClient, request: Request, allowed: list[rules.Network], timeout: float
) -> Result:
    try:
        target = await netguard.resolve(request.url, allowed)
        extensions = {"sni_hostname": target.server_name} if request.url.startswith("https") else {}
        # The whole exchange must fit in the timeout, not each phase of it.
        response = await asyncio.wait_for(
            client.post(
                target.url, content=request.body, extensions=extensions,
                headers={**request.headers, "Host": target.host_header},
            ),
            timeout,
        )  # fmt: skip
    except netguard.Refused as exc:
        return f"refused: {exc}"
    except (httpx.TimeoutException, TimeoutError):
        return f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()
