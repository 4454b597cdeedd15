"""Truth checks: what an update's text claims (a duration, a start or end time) against
the recorded impact windows, and a resolution while components are still impaired.

Plain module, no Django. Times without a stated zone are read in the page zone and in UTC,
and dates like ``07-08-2021`` both ways round: a claim is only flagged when no reading
fits the record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from heliograph.incidents.causes import spoken
from heliograph.incidents.lifecycle import Window, claimed_duration, contradicts, total_duration
from heliograph.lib.timefmt import moment

TOLERANCE = timedelta(minutes=1)
ZONES = {
    "utc": "UTC", "gmt": "UTC", "z": "UTC",
    "et": "America/New_York", "edt": "America/New_York", "est": "America/New_York",
    "ct": "America/Chicago", "cdt": "America/Chicago", "cst": "America/Chicago",
    "mt": "America/Denver", "mdt": "America/Denver", "mst": "America/Denver",
    "pt": "America/Los_Angeles", "pdt": "America/Los_Angeles", "pst": "America/Los_Angeles",
    "bst": "Europe/London", "cet": "Europe/Paris", "cest": "Europe/Paris",
}  # fmt: skip

_START = r"(?:incident\s+)?(?:start(?:ed)?(?:\s+time)?|began|beginning)"
_END = r"(?:incident\s+)?(?:end(?:ed)?(?:\s+time)?|resolved|restored|recovered)"
_DATE = r"(?P<date>\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[-/]\d{1,2}[-/]\d{4})"
_CLOCK = r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::\d{2})?(?:[ \t]*(?P<ampm>[ap])\.?m\.?)?"
_ZONE = rf"(?:[ \t]*(?P<zone>{'|'.join(sorted(ZONES, key=len, reverse=True))})\b)?"
_STATED = re.compile(
    rf"\b(?P<label>{_START}|{_END})[ \t]*(?:at|on|:|=|-)?[ \t]*"
    rf"(?:{_DATE}(?:[ \t]+|T|,[ \t]*))?{_CLOCK}(?![\d:]){_ZONE}",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class StatedTime:
    """A start or end time an update's text states."""

    kind: str  # "start" | "end"
    written: str
    days: tuple[tuple[int, int, int], ...]  # (year, month, day) readings; empty: clock only
    hour: int
    minute: int
    zone: str | None  # IANA name when the text names a zone


def stated_times(text: str) -> list[StatedTime]:
    found = []
    for match in _STATED.finditer(text):
        hour, minute = int(match["h"]), int(match["m"])
        if match["ampm"]:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if match["ampm"].lower() == "p" else 0)
        if hour > 23 or minute > 59:
            continue
        days = _readings(match["date"]) if match["date"] else ()
        if match["date"] and not days:
            continue
        kind = "start" if re.fullmatch(_START, match["label"], re.IGNORECASE) else "end"
        zone = ZONES[match["zone"].lower()] if match["zone"] else None
        begin = match.start("date") if match["date"] else match.start("h")
        written = text[begin : match.end()].rstrip(".")
        found.append(StatedTime(kind, written, days, hour, minute, zone))
    return found


def _readings(text: str) -> tuple[tuple[int, int, int], ...]:
    """``2021-07-08`` one way; ``07-08-2021`` month first (US) and day first."""
    parts = [int(p) for p in re.split(r"[-/]", text)]
    if re.match(r"\d{4}-", text):
        options = [(parts[0], parts[1], parts[2])]
    else:
        options = [(parts[2], parts[0], parts[1]), (parts[2], parts[1], parts[0])]
    valid = []
    for year, month, day in options:
        try:
            datetime(year, month, day)
        except ValueError:
            continue
        if (year, month, day) not in valid:
            valid.append((year, month, day))
    return tuple(valid)


def fits(claim: StatedTime, actual: datetime, page_zone: ZoneInfo) -> bool:
    """Whether any reading of the claim is within a minute of ``actual``."""
    zones = [ZoneInfo(claim.zone)] if claim.zone else [page_zone, ZoneInfo("UTC")]
    for zone in zones:
        local = actual.astimezone(zone)
        if not claim.days:
            minutes = abs((local.hour * 60 + local.minute) - (claim.hour * 60 + claim.minute))
            if min(minutes, 24 * 60 - minutes) <= TOLERANCE.total_seconds() // 60:
                return True
            continue
        for year, month, day in claim.days:
            stated = datetime(year, month, day, claim.hour, claim.minute, tzinfo=zone)
            if abs(stated - actual) <= TOLERANCE:
                return True
    return False


def check(
    *,
    text: str,
    status: str,
    windows: Sequence[Window],
    started_at: datetime,
    now: datetime,
    zone: ZoneInfo,
    impaired: Mapping[str, str],
) -> list[str]:
    """Warnings for an update's text against the record; empty when it is consistent.

    ``impaired`` maps component names to their non-operational status once the update applies.
    """
    warnings = []
    claim = claimed_duration(text)
    if claim is not None and windows:
        recorded = total_duration(windows, now)
        if contradicts(claim, recorded):
            ongoing = any(w.end is None for w in windows)
            so_far = " so far, and impact is ongoing" if ongoing else ""
            warnings.append(
                f"The text states a duration of {spoken(claim)}; the recorded impact windows "
                f"add up to {spoken(recorded)}{so_far}."
            )
    for stated in stated_times(text):
        warning = _time_warning(stated, windows, started_at, zone)
        if warning:
            warnings.append(warning)
    if status == "resolved" and impaired:
        names = ", ".join(f"{name} ({state})" for name, state in sorted(impaired.items()))
        warnings.append(f"This update resolves the incident while still not operational: {names}.")
    return warnings


def _time_warning(
    stated: StatedTime, windows: Sequence[Window], started_at: datetime, zone: ZoneInfo
) -> str | None:
    if stated.kind == "start":
        starts = [started_at] + ([min(w.start for w in windows)] if windows else [])
        if any(fits(stated, s, zone) for s in starts):
            return None
        return (
            f"The text says the incident started at {stated.written}; the recorded impact "
            f"began at {moment(starts[-1], zone)}."
        )
    if not windows:
        return None
    if any(w.end is None for w in windows):
        return f"The text says the incident ended at {stated.written}; impact is still ongoing."
    last = max(w.end for w in windows if w.end is not None)
    if fits(stated, last, zone):
        return None
    return (
        f"The text says the incident ended at {stated.written}; the recorded impact lasted "
        f"until {moment(last, zone)}."
    )
