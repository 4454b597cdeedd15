"""``rspamd``: read the rspamd controller (``/stat`` or ``/metrics`` counters, or the
``/history`` log).

Config: ``url`` (required: the controller's base URL, e.g. http://rspamd:11334),
``mode`` ("stat", "metrics" or "history"), ``verify_tls`` (true), ``ca_pem``; for ``stat``
and ``metrics``: ``scan_slow_ms`` (optional: slow when the mean recent scan time is above
it); for ``history``: ``loop_threshold`` (3), ``window_minutes`` (60), ``quiet_minutes`` (2).
Secret: ``password``
(sent as the controller's ``Password`` header).

``stat`` values: the controller's counters as they are (``scanned``, ``learned``,
``spam_count``, ``ham_count``, ``connections``, ``control_connections``, ``uptime``,
``action_<name>`` per action, e.g. ``action_soft_reject``), plus ``scan_time_ms`` (the
mean of the recent scan times, when rspamd reports them). A probe keeps no memory, so
rates come from the stored points. Verdict ``ok``, or ``slow`` above ``scan_slow_ms``.

``metrics`` reads the same counters from the Prometheus/OpenMetrics text the controller
serves at ``/metrics`` and gives them the ``stat`` names, so charts and thresholds work
alike: ``rspamd_scanned_total`` is ``scanned``, ``rspamd_actions_total{type="soft reject"}``
is ``action_soft_reject``, ``rspamd_scan_time_average`` (seconds) is ``scan_time_ms``, and
``uptime`` is the prober's clock minus ``process_start_time_seconds``. Other samples are
ignored; the verdict is as for ``stat``. No deltas: the probe sees only this answer.

``history`` values: ``scans`` (rows inside the window), ``messages`` (distinct
Message-IDs), ``max_scans`` (the most scans of one Message-ID), ``looping`` (how many
Message-IDs were scanned more than ``loop_threshold`` times and are still being scanned),
``loops_ended`` (as many, but quiet), ``scan_time_ms`` (mean). Verdict ``slow`` when a
Message-ID was scanned more than ``loop_threshold`` times in the window (the signature of a
processing loop: mail circling between the MTA and rspamd, delayed for everyone) and again
within the last ``quiet_minutes``, naming it; else ``ok``. The quiet time, not the window,
says when a loop is over: a loop fixed ten minutes ago is still all over a 30-minute
window, but its Message-IDs are no longer scanned.

All modes: no answer, an error status or an unreadable answer is ``fail``; a refused
password (HTTP 401/403) is ``unknown`` (the prober's own configuration).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httpx
from prometheus_client.parser import text_string_to_metric_families

from heliograph.monitors.probes import common
from heliograph.monitors.probes.base import FAIL, OK, SLOW, UNKNOWN, ProbeSpec, Result

KIND = "rspamd"
SECRET_FIELDS = ("password",)
MODES = ("stat", "metrics", "history")
KEYS = (
    "url", "mode", "verify_tls", "ca_pem", "scan_slow_ms", "loop_threshold",
    "window_minutes", "quiet_minutes", *SECRET_FIELDS,
)  # fmt: skip
COUNTERS = (
    "scanned", "learned", "spam_count", "ham_count", "connections", "control_connections",
    "uptime",
)  # fmt: skip
NO_ID = {"", "undef", "<>", "<undef>"}  # rspamd's placeholder for a missing Message-ID
# /metrics sample names (rspamd's src/controller.c) -> the /stat names, so a monitor can
# switch modes without breaking its charts or thresholds.
METRIC_NAMES = {
    "rspamd_scanned_total": "scanned", "rspamd_learned_total": "learned",
    "rspamd_spam_total": "spam_count", "rspamd_ham_total": "ham_count",
    "rspamd_connections": "connections",  # a "gauge" there, but the same connections_count
    "rspamd_control_connections_total": "control_connections",
}  # fmt: skip
ACCEPT = {"metrics": "application/openmetrics-text, text/plain;q=0.9"}
FORMATS = {"metrics": "Prometheus text"}


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    common.only(config, KEYS)
    checked: dict[str, Any] = {
        "url": common.http_url(config),
        "mode": common.choice(config, "mode", "stat", MODES),
        "verify_tls": common.flag(config, "verify_tls", True),
        "ca_pem": common.ca_pem(config),
        "scan_slow_ms": common.number(config, "scan_slow_ms", None),
        "loop_threshold": common.whole(config, "loop_threshold", 3, low=1, high=100000),
        "window_minutes": common.positive(config, "window_minutes", 60.0),
        "quiet_minutes": common.positive(config, "quiet_minutes", 2.0),
    }
    if "password" in config:
        checked["password"] = common.optional_text(config, "password")
    return checked


async def probe(spec: ProbeSpec) -> Result:
    return await common.run(spec, check_config, _check)


async def _check(config: dict[str, Any], spec: ProbeSpec) -> Result:
    url = config["url"].rstrip("/") + "/" + config["mode"]
    headers = {"Accept": ACCEPT.get(config["mode"], "application/json")}
    if password := spec.secrets.get("password"):
        headers["Password"] = password
    request = common.Request(
        url=url, headers=headers, verify=config["verify_tls"], cadata=config["ca_pem"]
    )
    start = time.perf_counter()
    try:
        response = await common.fetch(request, spec)
    except httpx.HTTPError as exc:
        return common.http_failure(url, exc, spec.timeout)
    latency = {"latency_ms": common.elapsed_ms(start)}
    where = f"the rspamd controller at {common.redact(config['url'])}"
    if response.status in (401, 403):
        reason = f"{where} refused the prober's password (HTTP {response.status})"
        return Result(UNKNOWN, reason, latency)
    if response.status != 200:
        return Result(FAIL, f"{where} answered HTTP {response.status} {response.reason}", latency)
    try:
        document = read(config["mode"], response.body)
    except ValueError:
        shape = FORMATS.get(config["mode"], "JSON")
        return Result(FAIL, f"{where} answered something that is not {shape}", latency)
    return judge(config, document, where, time.time())


def read(mode: str, body: bytes) -> Any:
    """The answer parsed for ``mode``; ValueError when it is not in the expected format."""
    if mode == "metrics":
        return parse_metrics(body.decode("utf-8"))
    return json.loads(body)


def judge(config: Mapping[str, Any], document: Any, where: str, now: float) -> Result:
    if config["mode"] == "stat":
        return judge_stat(config, document, where)
    if config["mode"] == "metrics":
        return judge_metrics(config, document, where, now)
    return judge_history(config, document, where, now)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _action_key(action: str) -> str:
    return "action_" + re.sub(r"\W+", "_", action).strip("_").lower()


def stat_values(document: Mapping[str, Any]) -> dict[str, float]:
    values = {key: n for key in COUNTERS if (n := _number(document.get(key))) is not None}
    actions = document.get("actions")
    if isinstance(actions, Mapping):
        for action, count in actions.items():
            if (n := _number(count)) is not None:
                values[_action_key(str(action))] = n
    times = document.get("scan_times")
    if isinstance(times, list):
        seconds = [n for t in times if (n := _number(t)) is not None and n > 0]
        if seconds:
            values["scan_time_ms"] = round(sum(seconds) / len(seconds) * 1000, 1)
    return values


def judge_stat(config: Mapping[str, Any], document: Any, where: str) -> Result:
    if not isinstance(document, Mapping) or _number(document.get("scanned")) is None:
        return Result(FAIL, f"{where} answered /stat without a scanned count")
    return judge_counters(config, stat_values(document), where)


def judge_counters(config: Mapping[str, Any], values: dict[str, float], where: str) -> Result:
    """The ``stat``/``metrics`` verdict: ``ok``, or ``slow`` above ``scan_slow_ms``."""
    said = f"{where} has scanned {values['scanned']:.0f} messages"
    mean, slow = values.get("scan_time_ms"), config["scan_slow_ms"]
    if mean is not None:
        per_scan = common.compared(mean, slow) if slow is not None else f"{mean:.0f}"
        said += f", {per_scan} ms per scan lately"
    if mean is not None and slow is not None and mean > slow:
        return Result(SLOW, f"{said} (slow above {slow:g} ms)", values)
    return Result(OK, said, values)


class Sample(NamedTuple):
    name: str
    labels: dict[str, str]
    value: float


def parse_metrics(text: str) -> list[Sample]:
    """Samples of the Prometheus text format (and OpenMetrics, which rspamd serves);
    ValueError on a line that is neither a sample nor a comment (an HTML page, say)."""
    try:
        families = list(text_string_to_metric_families(text))
    except (IndexError, TypeError) as exc:  # the parser's other ways of saying "not a sample"
        raise ValueError(str(exc)) from None
    return [Sample(s.name, dict(s.labels), s.value) for f in families for s in f.samples]


def metrics_values(samples: list[Sample], now: float) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, labels, value in samples:
        if not math.isfinite(value):
            continue
        if name in METRIC_NAMES:
            values[METRIC_NAMES[name]] = value
        elif name == "rspamd_actions_total" and labels.get("type"):
            values[_action_key(labels["type"])] = value
        elif name == "rspamd_scan_time_average" and value > 0:  # seconds; 0 before any scan
            values["scan_time_ms"] = round(value * 1000, 1)
        elif name == "process_start_time_seconds" and value > 0:
            # /stat's uptime is now - start too, on rspamd's clock rather than ours.
            values["uptime"] = float(max(0, round(now - value)))
    return values


def judge_metrics(
    config: Mapping[str, Any], samples: list[Sample], where: str, now: float
) -> Result:
    values = metrics_values(samples, now)
    if "scanned" not in values:
        return Result(FAIL, f"{where} answered /metrics without rspamd_scanned_total")
    return judge_counters(config, values, where)


def history_rows(document: Any) -> list[Mapping[str, Any]] | None:
    """Rows of either shape: {"version": 2, "rows": [...]} or the older bare list."""
    rows = document.get("rows") if isinstance(document, Mapping) else document
    if not isinstance(rows, list):
        return None
    return [row for row in rows if isinstance(row, Mapping)]


@dataclass
class Tally:
    """What the history says inside the window."""

    counts: Counter[str] = field(default_factory=Counter)  # scans per Message-ID
    last: dict[str, float] = field(default_factory=dict)  # a Message-ID's latest scan
    seconds: list[float] = field(default_factory=list)  # scan times
    scans: int = 0  # rows


def tally(rows: list[Mapping[str, Any]], since: float) -> Tally:
    """Scans per Message-ID, when each was last scanned, scan times and the row count."""
    found = Tally()
    for row in rows:
        moment = _number(row.get("unix_time"))
        if moment is not None and moment < since:
            continue
        found.scans += 1
        scan = _number(row.get("time_real", row.get("scan_time")))
        if scan is not None:
            found.seconds.append(scan)
        message_id = row.get("message-id", row.get("id"))
        if isinstance(message_id, str) and message_id.strip() not in NO_ID:
            name = message_id.strip()
            found.counts[name] += 1
            if moment is not None:
                found.last[name] = max(moment, found.last.get(name, moment))
    return found


def loops(found: Tally, threshold: int, quiet_since: float) -> tuple[list[tuple[str, int]], ...]:
    """(going, ended): Message-IDs scanned more than ``threshold`` times, most first, split by
    whether they were scanned again since ``quiet_since`` (a row without a time: going)."""
    over = [(mid, n) for mid, n in found.counts.most_common() if n > threshold]
    going = [(mid, n) for mid, n in over if found.last.get(mid, quiet_since) >= quiet_since]
    return going, [loop for loop in over if loop not in going]


def judge_history(config: Mapping[str, Any], document: Any, where: str, now: float) -> Result:
    rows = history_rows(document)
    if rows is None:
        return Result(FAIL, f"{where} answered /history without rows")
    found = tally(rows, now - config["window_minutes"] * 60)
    threshold, quiet = config["loop_threshold"], config["quiet_minutes"]
    going, ended = loops(found, threshold, now - quiet * 60)
    values = {
        "scans": float(found.scans),
        "messages": float(len(found.counts)),
        "max_scans": float(max(found.counts.values(), default=0)),
        "looping": float(len(going)),
        "loops_ended": float(len(ended)),
    }
    if found.seconds:
        values["scan_time_ms"] = round(sum(found.seconds) / len(found.seconds) * 1000, 1)
    window = f"the last {config['window_minutes']:g} min"
    if going:
        top, count = going[0]
        more = f" (and {len(going) - 1} more Message-IDs)" if len(going) > 1 else ""
        reason = (
            f"Message-ID {top} was scanned {count} times in {window}{more}, more than "
            f"{threshold}: rspamd may be in a processing loop ({where})"
        )
        return Result(SLOW, reason, values, {"looping": dict(going[:10])})
    if ended:
        return _loop_over(ended, found, now, quiet, where, values)
    many = len(found.counts)
    reason = f"{many} messages scanned in {window}, none more than {threshold} times ({where})"
    return Result(OK, reason, values)


def _loop_over(
    ended: list[tuple[str, int]],
    found: Tally,
    now: float,
    quiet: float,
    where: str,
    values: dict[str, float],
) -> Result:
    """Every Message-ID that looped has gone quiet: the loop is over."""
    top, count = ended[0]
    more = f" (and {len(ended) - 1} more Message-IDs)" if len(ended) > 1 else ""
    since = (now - max(found.last[mid] for mid, _ in ended)) / 60
    reason = (
        f"the processing loop is over: Message-ID {top}{more} was scanned {count} times, "
        f"but none of them again for {since:.1f} min (quiet after {quiet:g} min) ({where})"
    )
    return Result(OK, reason, values, {"loops_ended": dict(ended[:10])})
