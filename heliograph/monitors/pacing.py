"""When automation speaks: one public update per change of severity, not one per probe step.

Plain module, no Django (architecture: Pure rules, Monitors). The component's status moves
at once with the probes; what customers are *told* (an update, which notifies every
subscriber) waits until the change has settled:

- A change of severity is said once it has held for ``settle`` (a step to partial outage
  ten seconds after a step to degraded is one update, not two); a worsening by two levels
  or more is said at once.
- A new effect at the same severity (mail delayed, then mail looping) is said at most once
  per ``gap`` since automation last spoke.
- Going back to what was last said needs no update at all.

Monitoring and resolved are not paced: they go out when they happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from heliograph.catalog.status import DEGRADED, MAJOR, OPERATIONAL, PARTIAL

SEVERITY = (OPERATIONAL, DEGRADED, PARTIAL, MAJOR)
SETTLE = timedelta(minutes=2)
GAP = timedelta(minutes=10)


@dataclass(frozen=True)
class Pacing:
    settle: timedelta = SETTLE
    gap: timedelta = GAP


@dataclass(frozen=True)
class Said:
    """What automation last told customers about an incident, and when."""

    status: str
    effect: str
    at: datetime


@dataclass(frozen=True)
class Seen:
    """What the monitors see now, and since when it has differed from what was said."""

    status: str
    effect: str
    since: datetime


def rank(status: str) -> int:
    return SEVERITY.index(status) if status in SEVERITY else 0


def due(said: Said, seen: Seen, now: datetime, pacing: Pacing = Pacing()) -> bool:
    """Whether an update telling customers what is ``seen`` should be posted now."""
    if seen.status == said.status and seen.effect == said.effect:
        return False
    if rank(seen.status) - rank(said.status) >= 2:
        return True
    if now - seen.since < pacing.settle:
        return False
    return seen.status != said.status or now - said.at >= pacing.gap
