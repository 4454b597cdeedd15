"""What automation posts on its incident, and when (architecture: Monitors).

``Notices`` is the speaking half of ``automation.Run``: it fills the page's ``Automatic: …``
templates (``monitors.wording``) for customers, keeps the probe's evidence for responders,
keeps the title on the worst state seen, and paces updates (``monitors.pacing``): the
component's status moves at once, the update that tells subscribers waits until a change
of severity has settled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.conf import settings

from heliograph.catalog.models import Component
from heliograph.catalog.status import OPERATIONAL
from heliograph.incidents import causes, lifecycle
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.monitors import correlation, evaluator, metrics, pacing, wording
from heliograph.monitors.evaluator import DOWN, PATH_STATUSES, UP, PathState
from heliograph.monitors.models import IncidentAutomation, Monitor, ProbeResult
from heliograph.monitors.probes.base import Result

S = lifecycle.Status
TIMING = evaluator.DEFAULT_TIMING
EVIDENCE_KEPT = 50


@dataclass(frozen=True)
class Source:
    """The path customers' experience is told from: its kind, whether it is down, its
    numbers and what its probe noticed (``loop``, ``junk``; empty for plain slowness)."""

    kind: str
    down: bool
    values: Mapping[str, float]
    noticed: str


class Notices:
    """Mixed into ``automation.Run``, whose attributes it reads."""

    monitor: Monitor
    others: list[Monitor]
    component: Component
    result: Result
    now: datetime
    current: str | None
    held: bool
    incident: Incident | None
    notes: IncidentAutomation | None

    def _note(self) -> IncidentAutomation:
        raise NotImplementedError

    def _at(self) -> datetime:
        raise NotImplementedError

    # --- what customers read ---------------------------------------------------------------

    @cached_property
    def _source(self) -> Source:
        """The worst path feeding the component (this result on a tie): what customers
        notice comes from it. Read once per result (another path's costs a query)."""
        mine = PathState.from_json(self.monitor.state)
        worst = (PATH_STATUSES.index(mine.status), self.monitor)
        for other in self.others:
            status = PathState.from_json(other.state).status
            if PATH_STATUSES.index(status) > worst[0]:
                worst = (PATH_STATUSES.index(status), other)
        rank, monitor = worst
        result: Result | ProbeResult | None = self.result
        if monitor is not self.monitor:
            result = ProbeResult.objects.filter(monitor=monitor).order_by("-at").first()
        values = metrics.finite(result.values) if result else {}
        noticed = str((result.details or {}).get("noticed", "")) if result else ""
        return Source(monitor.kind, rank == PATH_STATUSES.index(DOWN), values, noticed)

    def _effect_key(self) -> str:
        found = self._source
        down = str(self.current) if found.down else found.noticed or "slow"
        return f"{wording.service(found.kind).name}:{down}"

    def _fields(self, since: datetime) -> dict[str, Any]:
        found = self._source
        status = self.current or OPERATIONAL
        worst = max(status, self._titled_status(), key=evaluator.rank)
        effect = wording.effect(
            found.kind, status, found.down, found.values, self.component, found.noticed
        )
        return {
            "component": self.component.name,
            "summary": wording.summary(found.kind, worst),
            "effect": effect,
            "severity": wording.SEVERITY_WORDS.get(status, status),
            "since": wording.since(since, self.component.page.zone),
            "quiet": causes.spoken(TIMING.quiet),
            "after": causes.spoken(self.now - (self._resolved_at() or self.now)),
        }

    def _resolved_at(self) -> datetime | None:
        return self.incident.resolved_at if self.incident is not None else None

    def _text(self, step: str, since: datetime) -> tuple[str, str, str]:
        """(update status, title, body) for ``step``, from the page's template."""
        template = wording.template(self.component.page, step)
        fields = self._fields(since)
        title = wording.fill(template.title, fields)[:255] or self._default_title(fields)
        return template.update_status, title, wording.fill(template.body, fields)

    @staticmethod
    def _default_title(fields: Mapping[str, Any]) -> str:
        return wording.fill(wording.TITLE, fields)

    # --- what responders read --------------------------------------------------------------

    def _evidence_entry(self, step: str) -> dict[str, Any]:
        return {
            "at": self.now.isoformat(),
            "monitor": self.monitor.name,
            "verdict": self.result.verdict,
            "reason": self.result.reason,
            "status": self.current,
            "suggestion": step,
            "lines": evidence_lines(self.result),
        }

    def _log_step(self, step: str, *extra: str) -> None:
        """Each automatic step with the full evidence behind it, for the console."""
        entry = self._evidence_entry(step)
        entry["lines"] = [*entry["lines"], *extra]
        notes = self._note()
        notes.evidence = [*notes.evidence, entry][-EVIDENCE_KEPT:]

    def _changed_before(self) -> list[str]:
        """Maintenances and recorded changes on the component shortly before: for
        responders to judge (customers are told once someone links a cause)."""
        page, component = self.component.page, self.component
        found = correlation.lines(page=page, components=[component], start=self.now)
        return [f"changed before: {line}" for line in found]

    # --- the title follows the worst state -------------------------------------------------

    def _titled_status(self) -> str:
        titles = self.notes.titles if self.notes is not None else []
        return str(titles[-1].get("status", UP)) if titles else OPERATIONAL

    def _keep_title(self, title: str) -> None:
        notes = self._note()
        entry = {"at": self.now.isoformat(), "title": title, "status": self.current}
        notes.titles = [*notes.titles, entry]

    def _follow_title(self) -> None:
        """Rename the incident when the state got worse than its title says, unless a
        person renamed it (then the name is theirs)."""
        if self.incident is None or self.notes is None or not self.notes.titles:
            return
        if not evaluator.worse(self.current, self._titled_status()):
            return
        if self.incident.name != self.notes.titles[-1].get("title"):
            return
        _, title, _ = self._text(wording.WORSE, self.now)
        if title != self.incident.name:
            incidents.update_incident(incident=self.incident, name=title, actor=self._actor())
        self._keep_title(title)

    def _actor(self) -> str:
        return f"monitor:{self.monitor.name}"

    # --- pacing ----------------------------------------------------------------------------

    def _say(self, status: str) -> None:
        """Note what customers were just told."""
        notes = self._note()
        notes.said_status, notes.said_at, notes.seen_since = status, self.now, None
        notes.said_effect = self._effect_key() if status != OPERATIONAL else ""

    def _pending(self) -> tuple[pacing.Said, pacing.Seen] | None:
        """What was said and what is seen, when they differ; what is seen is timed from
        when it last changed, so a change settles only once it stops changing."""
        notes = self.notes
        if notes is None or self.current is None or notes.said_at is None:
            return None
        key = self._effect_key() if self.current != OPERATIONAL else ""
        said = pacing.Said(notes.said_status, notes.said_effect, notes.said_at)
        if (self.current, key) == (said.status, said.effect):
            if notes.seen_since is not None:
                self._note().seen_since = None
            return None
        if (notes.seen_status, notes.seen_effect) != (self.current, key) or not notes.seen_since:
            notes = self._note()
            notes.seen_status, notes.seen_effect, notes.seen_since = self.current, key, self.now
        assert notes.seen_since is not None
        return said, pacing.Seen(self.current, key, notes.seen_since)

    def _speak_when_due(self) -> bool:
        """Post the paced update once what the monitors see has settled; whether it did."""
        if self.incident is None or self.incident.status in lifecycle.RESOLVED:
            return False
        found = self._pending()
        if found is None or found[1].status == OPERATIONAL:
            return False  # back to what was said, or operational (monitoring says that)
        said, seen = found
        if not pacing.due(said, seen, self.now, _pacing()):
            return False
        step = wording.WORSE if evaluator.worse(seen.status, said.status) else wording.BETTER
        status, _, body = self._text(step, seen.since)
        if self.incident.status != S.MONITORING:
            status = self.incident.status
        self._post_text(status, body)
        self._say(seen.status)
        self._log_step(f"Told subscribers: {wording.SEVERITY_WORDS[seen.status]}")
        return True

    def _post_text(self, status: str, body: str) -> None:
        raise NotImplementedError


def _pacing() -> pacing.Pacing:
    return pacing.Pacing(
        settle=timedelta(seconds=settings.HELIOGRAPH_NOTICE_SETTLE_SECONDS),
        gap=timedelta(seconds=settings.HELIOGRAPH_NOTICE_GAP_SECONDS),
    )


def evidence_lines(result: Result) -> list[str]:
    """The sample for responders: verdict and reason, numbers, short details."""
    found = [f"check: {result.verdict} — {result.reason}"]
    for name, value in sorted(metrics.finite(result.values).items()):
        found.append(f"{name.replace('_', ' ')}: {value:g}")
    for name, detail in sorted((result.details or {}).items()):
        if isinstance(detail, list):
            found.append(f"{name.replace('_', ' ')}: {len(detail)}")
        elif not isinstance(detail, dict) and len(str(detail)) <= 200:
            found.append(f"{name.replace('_', ' ')}: {detail}")
    return found
