"""``tcp``: can a connection be opened, and how fast.

Config: ``host`` (required), ``port`` (required), ``slow_ms`` (1000).
Values: ``latency_ms`` (the time to connect).
Verdicts: ``fail`` when the connection is refused, unreachable or not made within the
monitor's timeout; ``slow`` when connecting took more than ``slow_ms``; else ``ok``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from heliograph.monitors.probes import common
from heliograph.monitors.probes.base import FAIL, OK, SLOW, ProbeSpec, Result

KIND = "tcp"
SECRET_FIELDS: tuple[str, ...] = ()
DEFAULT_SLOW_MS = 1000.0
KEYS = ("host", "port", "slow_ms")


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    common.only(config, KEYS)
    return {
        "host": common.host(config),
        "port": common.port(config),
        "slow_ms": common.positive(config, "slow_ms", DEFAULT_SLOW_MS),
    }


async def probe(spec: ProbeSpec) -> Result:
    return await common.run(spec, check_config, _check)


async def _check(config: dict[str, Any], spec: ProbeSpec) -> Result:
    where = f"{config['host']}:{config['port']}"
    address = await common.pin_host(config["host"], config["port"], spec.allowed)
    start = time.perf_counter()
    try:
        _, writer = await asyncio.open_connection(address, config["port"])
    except OSError as exc:
        return Result(FAIL, f"{where}: {common.describe(exc)}", details={"address": address})
    latency = common.elapsed_ms(start)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    values = {"latency_ms": latency}
    details = {"address": address}
    if latency > config["slow_ms"]:
        took, limit = common.compared(latency, config["slow_ms"]), config["slow_ms"]
        reason = f"{where} took {took} ms to connect (slow above {limit:g} ms)"
        return Result(SLOW, reason, values, details)
    return Result(OK, f"{where} accepted a connection in {latency:.0f} ms", values, details)
