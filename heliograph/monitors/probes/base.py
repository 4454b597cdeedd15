"""What every probe takes and returns (architecture: Monitors). No Django imports: probes are plain
asyncio code, run by the scheduler with a hard timeout around each call.

A probe never raises for a problem with the thing it watches: it returns a Result whose
verdict says how bad it was. ``unknown`` is for the prober's own fault (its IMAP login
failed, its config is wrong), which alerts operators but never changes public status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from heliograph.lib.networks import Network

OK, HOLD, SLOW, FAIL, UNKNOWN = "ok", "hold", "slow", "fail", "unknown"
VERDICTS = (OK, HOLD, SLOW, FAIL, UNKNOWN)


@dataclass(frozen=True)
class ProbeSpec:
    """One run's input: the monitor's settings (as ``check_config`` returned them, minus
    the secret fields, which the caller moves to ``secrets``), its secrets (passwords,
    tokens: never logged or echoed into a reason), the hard timeout in seconds, and the
    private networks it may reach anyway (``HELIOGRAPH_ALLOW_PRIVATE_TARGETS``)."""

    config: Mapping[str, Any]
    secrets: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    # Private/loopback networks the operator allows (HELIOGRAPH_ALLOW_PRIVATE_TARGETS);
    # probes of user-given URLs refuse other private addresses (architecture: Outbound requests).
    allowed: Sequence[Network] = ()


@dataclass(frozen=True)
class Result:
    """A verdict, measured values (numbers, by name: stored as metric points) and a
    sentence a person on call can act on."""

    verdict: str
    reason: str
    values: Mapping[str, float] = field(default_factory=dict)
    # Anything worth keeping as evidence that is not a number (hop lists, header lines).
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")


class ConfigError(ValueError):
    """The monitor's config is unusable; raised by ``check_config`` at save time."""


class ProbeModule(Protocol):
    """The shape of each ``heliograph.monitors.probes.<kind>`` module."""

    KIND: str
    SECRET_FIELDS: tuple[str, ...]  # config keys that hold secrets (moved to ``secrets``)

    def check_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The config with defaults filled in; ConfigError with a clear message if bad."""
        ...

    async def probe(self, spec: ProbeSpec) -> Result: ...
