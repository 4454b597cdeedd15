"""``prometheus``: an instant query's value(s) against thresholds.

Config: ``url`` (required: the Prometheus base URL, e.g. http://prometheus:9090; the
probe asks ``<url>/api/v1/query``), ``query`` (required, PromQL), ``slow_above``,
``fail_above``, ``slow_below``, ``fail_below`` (numbers, each optional; "above" and
"below" are strict), ``no_data`` (the verdict when the query returns nothing: "unknown",
or "ok", "slow", "fail"), ``verify_tls`` (true), ``ca_pem``. Secret: ``authorization``
(the Authorization header's value, for a Prometheus behind a proxy).

Values: ``value`` (of the series that decided the verdict: the worst one), ``series``
(how many came back).
Verdicts: per series ``fail`` beyond a fail threshold, ``slow`` beyond a slow one, else
``ok``; the worst series wins. Prometheus unreachable, refusing the query or answering
nonsense is ``unknown``: the prober cannot tell how the service is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from heliograph.monitors.probes import common
from heliograph.monitors.probes.base import FAIL, OK, SLOW, UNKNOWN, ConfigError, ProbeSpec, Result

KIND = "prometheus"
SECRET_FIELDS = ("authorization",)
NO_DATA = ("unknown", "ok", "slow", "fail")
THRESHOLDS = ("slow_above", "fail_above", "slow_below", "fail_below")
KEYS = ("url", "query", *THRESHOLDS, "no_data", "verify_tls", "ca_pem", *SECRET_FIELDS)
RANK = {OK: 0, SLOW: 1, FAIL: 2}


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    common.only(config, KEYS)
    checked: dict[str, Any] = {
        "url": common.http_url(config),
        "query": common.required_text(config, "query"),
        **{key: common.number(config, key, None, low=-math.inf) for key in THRESHOLDS},
        "no_data": common.choice(config, "no_data", "unknown", NO_DATA),
        "verify_tls": common.flag(config, "verify_tls", True),
        "ca_pem": common.ca_pem(config),
    }
    if urlsplit(checked["url"]).query:
        raise ConfigError("url is the Prometheus base URL, without a ?query")
    common.ordered(checked, "slow_above", "fail_above")
    common.ordered(checked, "fail_below", "slow_below")
    if "authorization" in config:
        checked["authorization"] = common.optional_text(config, "authorization")
    return checked


def query_url(base: str, query: str) -> str:
    parts = urlsplit(base)
    path = parts.path.rstrip("/") + "/api/v1/query"
    return urlunsplit(parts._replace(path=path, query=urlencode({"query": query})))


async def probe(spec: ProbeSpec) -> Result:
    def timed_out() -> Result:
        return Result(UNKNOWN, f"Prometheus did not answer within {spec.timeout:g} s")

    return await common.run(spec, check_config, _check, timed_out)


async def _check(config: dict[str, Any], spec: ProbeSpec) -> Result:
    headers = {"Accept": "application/json"}
    if token := spec.secrets.get("authorization"):
        headers["Authorization"] = token
    request = common.Request(
        url=query_url(config["url"], config["query"]),
        headers=headers,
        verify=config["verify_tls"],
        cadata=config["ca_pem"],
    )
    where = common.redact(config["url"])
    try:
        response = await common.fetch(request, spec)
    except httpx.TimeoutException:
        return Result(UNKNOWN, f"Prometheus at {where} did not answer within {spec.timeout:g} s")
    except (httpx.HTTPError, common.Unresolvable) as exc:
        return Result(UNKNOWN, f"Prometheus at {where} cannot be asked: {common.describe(exc)}")
    try:
        series = parse(response)
    except ValueError as exc:
        return Result(UNKNOWN, f"Prometheus at {where}: {exc}")
    return judge(config, series)


def parse(response: common.Response) -> list[tuple[str, float]]:
    """(series label, value) pairs of an instant query; ValueError saying what is wrong."""
    try:
        document = json.loads(response.body)
    except ValueError:
        raise ValueError(f"the answer (HTTP {response.status}) is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("the answer is not a query result")
    if document.get("status") != "success":
        error = str(document.get("error") or f"HTTP {response.status}")[:300]
        raise ValueError(f"the query failed: {error}")
    data = document.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _sample("scalar", result)
    if kind != "vector" or not isinstance(result, list):
        raise ValueError(f"the query returned a {kind}, not an instant vector or a scalar")
    pairs: list[tuple[str, float]] = []
    for item in result:
        if isinstance(item, dict):
            pairs += _sample(_label(item.get("metric")), item.get("value"))
    return pairs


def _sample(label: str, value: Any) -> list[tuple[str, float]]:
    try:
        number = float(value[1])
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"the value of {label} is unreadable: {value!r}") from None
    return [] if math.isnan(number) else [(label, number)]


def _label(metric: Any) -> str:
    if not isinstance(metric, dict):
        return "{}"
    labels = {str(k): str(v) for k, v in metric.items()}
    name = labels.pop("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def level(config: Mapping[str, Any], value: float) -> tuple[str, str]:
    """(verdict, why) for one value (its ``{value:g}`` may need more digits: ``shown``)."""
    for verdict in (FAIL, SLOW):
        above, below = config[f"{verdict}_above"], config[f"{verdict}_below"]
        if above is not None and value > above:
            return verdict, f"above the {verdict} threshold {common.exact(above)}"
        if below is not None and value < below:
            return verdict, f"below the {verdict} threshold {common.exact(below)}"
    return OK, "within the thresholds"


def shown(config: Mapping[str, Any], value: float, verdict: str) -> str:
    """The value as the reason writes it: never the same as the threshold it crossed."""
    if verdict == OK:
        return f"{value:g}"
    above, below = config[f"{verdict}_above"], config[f"{verdict}_below"]
    limit = above if above is not None and value > above else below
    return common.compared_g(value, limit) if limit is not None else f"{value:g}"


def judge(config: Mapping[str, Any], series: list[tuple[str, float]]) -> Result:
    query = config["query"]
    if not series:
        return Result(config["no_data"], f"the query {query} returned no data", {"series": 0.0})
    judged = [(label, value, *level(config, value)) for label, value in series]
    label, value, verdict, why = max(judged, key=lambda j: RANK[j[2]])
    values = {"value": value, "series": float(len(series))}
    details = {"series": {label: value for label, value, *_ in judged[:20]}}
    subject = query if len(series) == 1 else f"{label} (one of {len(series)} series of {query})"
    if verdict == OK and len(series) > 1:
        reason = f"all {len(series)} series of {query} are within the thresholds"
    else:
        reason = f"{subject} = {shown(config, value, verdict)}, {why}"
    return Result(verdict, reason, values, details)
