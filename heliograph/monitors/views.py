"""``/metrics``: every monitor's last run in the Prometheus text format (architecture: Monitors).

Per monitor, labelled ``monitor``, ``kind``, ``component`` and ``page`` (names):

- ``heliograph_monitor_up``: 1, or 0 when the last run failed (``unknown`` is the prober's
  own fault, so it does not count as down);
- ``heliograph_monitor_verdict{verdict=…}``: the last verdict, one-hot over every verdict;
- ``heliograph_monitor_latency_seconds``: the main time the last run measured (delivery
  time for mail round trips, response or connect time for the others);
- ``heliograph_monitor_value{name=…}``: every number the last run measured;
- ``heliograph_monitor_last_run_timestamp_seconds`` and ``heliograph_monitor_paused``.

Monitors that never ran have only ``paused`` and all-zero verdicts. Nothing from a
monitor's config, secrets or reasons is exported.

Access (the names of monitors and components are not for everyone): with
``HELIOGRAPH_METRICS_TOKEN`` set, a scraper sends ``Authorization: Bearer <token>``;
without it, only clients on this machine may read it (loopback, and when proxied, every
``X-Forwarded-For`` address loopback too; a ``Forwarded`` header is refused).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from heliograph.monitors.metrics import finite, main_of
from heliograph.monitors.models import Monitor, ProbeResult
from heliograph.monitors.probes.base import FAIL, VERDICTS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "heliograph_monitor"
HELP = {
    "up": "1 when the monitor's last run found its service up, 0 when it failed.",
    "verdict": "The verdict of the monitor's last run (one-hot over every verdict).",
    "latency_seconds": "The main time the monitor's last run measured (delivery time for "
    "mail round trips, response or connect time for the others).",
    "value": "Every number the monitor's last run measured, by name.",
    "last_run_timestamp_seconds": "When the monitor last ran (Unix time).",
    "paused": "1 when the monitor is paused.",
}
TIME_SCALE = {"s": 1.0, "ms": 0.001}


# -- access --------------------------------------------------------------------------------


def configured_token() -> str:
    """``HELIOGRAPH_METRICS_TOKEN`` ("" = none)."""
    return str(settings.HELIOGRAPH_METRICS_TOKEN).strip()


def _loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def local_request(request: HttpRequest) -> bool:
    """From this machine, and not relayed for anyone who is not."""
    if "HTTP_FORWARDED" in request.META:
        return False
    relayed = [a for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    return all(_loopback(a) for a in [request.META.get("REMOTE_ADDR", ""), *relayed])


def refusal(request: HttpRequest) -> HttpResponse | None:
    """Why this request may not read the metrics, as a response (None: it may)."""
    token = configured_token()
    if not token:
        if local_request(request):
            return None
        text = "Only this machine may read /metrics: set HELIOGRAPH_METRICS_TOKEN to scrape it.\n"
        return HttpResponse(text, status=403, content_type="text/plain; charset=utf-8")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    answer = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
    answer["WWW-Authenticate"] = 'Bearer realm="heliograph metrics"'
    return answer


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refused = refusal(request)
    if refused is not None:
        refused["Cache-Control"] = "no-store"
        return refused
    answer = HttpResponse(exposition(), content_type=CONTENT_TYPE)
    answer["Cache-Control"] = "no-store"
    return answer


# -- the text format -----------------------------------------------------------------------


def escape_label(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs.items()) + "}"


def number(value: float) -> str:
    return repr(float(value))


def last_values(monitors: Iterable[Monitor]) -> dict[str, dict[str, float]]:
    """Monitor id -> the numbers its latest ProbeResult holds (two queries)."""
    latest = ProbeResult.objects.filter(monitor=OuterRef("pk")).order_by("-at", "-id")
    ids = (
        Monitor.objects.filter(pk__in=[m.pk for m in monitors])
        .annotate(result=Subquery(latest.values("pk")[:1]))
        .values_list("result", flat=True)
    )
    rows = ProbeResult.objects.filter(pk__in=[i for i in ids if i is not None])
    return {r.monitor_id: finite(r.values) for r in rows.only("monitor_id", "values")}


def samples(monitor: Monitor, values: dict[str, float]) -> dict[str, list[str]]:
    """The monitor's lines, by metric name (without the prefix)."""
    base = {
        "monitor": monitor.name,
        "kind": monitor.kind,
        "page": monitor.page.name,
        "component": monitor.component.name if monitor.component else "",
    }
    found: dict[str, list[str]] = {"paused": [f"{labels(base)} {int(monitor.paused)}"]}
    verdict = monitor.last_verdict
    found["verdict"] = [f"{labels({**base, 'verdict': v})} {int(v == verdict)}" for v in VERDICTS]
    if verdict in VERDICTS:
        found["up"] = [f"{labels(base)} {int(verdict != FAIL)}"]
    if monitor.last_run_at is not None:
        found["last_run_timestamp_seconds"] = [f"{labels(base)} {_stamp(monitor.last_run_at)}"]
    main = main_of(monitor)
    if main.name in values and main.unit in TIME_SCALE:
        seconds = values[main.name] * TIME_SCALE[main.unit]
        found["latency_seconds"] = [f"{labels(base)} {number(seconds)}"]
    found["value"] = [
        f"{labels({**base, 'name': name})} {number(v)}" for name, v in sorted(values.items())
    ]
    return found


def _stamp(at: datetime) -> str:
    return number(round(at.timestamp(), 3))


def exposition() -> str:
    """Every monitor's metrics, grouped by metric as the format requires."""
    rows = Monitor.objects.select_related("page", "component").order_by("page__name", "name")
    monitors = list(rows)
    values = last_values(monitors)
    by_metric: dict[str, list[str]] = {name: [] for name in HELP}
    for monitor in monitors:
        for name, lines in samples(monitor, values.get(monitor.pk, {})).items():
            by_metric[name] += lines
    out: list[str] = []
    for name, lines in by_metric.items():
        out += [f"# HELP {PREFIX}_{name} {HELP[name]}", f"# TYPE {PREFIX}_{name} gauge"]
        out += [f"{PREFIX}_{name}{line}" for line in lines]
    return "\n".join(out) + "\n"
