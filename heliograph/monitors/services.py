"""Monitors: create, change, pause, resume, run now, delete (architecture: Monitors, Outbound
requests).

Every function checks everything before writing, runs in one transaction and records an
audit event. The console, the Manage API and ``heliograph monitors apply`` all come here.

Settings are checked by the kind's own ``check_config`` (which fills in defaults). The
kind's ``SECRET_FIELDS`` (passwords, tokens) never stay in ``config``: given there or in
``secrets`` they go to ``Monitor.secrets``, which is never shown back, logged or audited —
answers show ``{"imap_password": "set"}`` instead (``secret_status``). Secrets not given
keep their stored value; a secret given as None or "" is cleared; changing the kind drops
the old kind's secrets. Credentials written into the settings, which are shown back, are
refused with a pointer to the secret that takes them: a password in a URL, a header or a
URL query parameter whose name says it carries one (``Authorization``, ``Cookie``,
``X-Api-Key``, ``X-Auth-Token``, ``?access_token=``; see ``monitors.credentials``).

Timing: the interval is 10 s to a week; the timeout is more than 0, at most an hour, and
leaves ``LEASE_ROOM`` (6 s) of the interval free. A worker's lease on a running monitor
lasts the timeout plus that room (scheduler.lease_seconds), so a dead worker's monitors
move to another worker within one interval. A timeout left out is 30 s, or less to fit a
short interval. Numbers are finite and within ±2**53: a huge whole number (which would
overflow a float) is refused like any other bad value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from heliograph.audit import trail
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED
from heliograph.catalog.validation import check_bool, unique_name
from heliograph.lib.errors import InputError
from heliograph.lib.unset import UNSET, Unset
from heliograph.monitors.evaluator import PATH, ROLES, SIGNAL_SEVERITIES
from heliograph.monitors.inputs import (
    check_json,
    check_text,
    looks_secret,
    refuse_inline_credentials,
)
from heliograph.monitors.models import AUTOMATION_OFF, AUTOMATIONS, BY_KIND, Monitor, default_role
from heliograph.monitors.probes.base import ConfigError, ProbeModule
from heliograph.monitors.probes.registry import KINDS, probe_module
from heliograph.monitors.scheduler import LEASE_ROOM, first_run_at

__all__ = [
    "KINDS", "SET", "NOT_SET", "Settings", "audit_view", "changes", "check", "check_json",
    "check_text", "create_monitor", "default_timeout", "delete_monitor", "find_monitor",
    "looks_secret", "pause_monitor", "resume_monitor", "run_now", "running", "save",
    "secret_fields", "secret_status", "update_monitor", "values",
]  # fmt: skip

SET, NOT_SET = "set", "not set"
MIN_INTERVAL, MAX_INTERVAL = 10, 7 * 86_400
MAX_TIMEOUT = 3_600.0
DEFAULT_TIMEOUT = 30.0
MAX_SECRET = 4_096
MAX_CONFIG_CHARS = 100_000
RESUME_SOON = 10.0  # a resumed monitor runs within this many seconds
FIELDS = (
    "name", "kind", "config", "secrets", "component", "interval_seconds", "timeout_seconds",
    "automation", "public", "paused", "role", "severity",
)  # fmt: skip


def values(settings: Settings) -> dict[str, Any]:
    """The settings by field name (``dataclasses.asdict`` would copy the component)."""
    return {f.name: getattr(settings, f.name) for f in fields(settings)}


@dataclass(frozen=True)
class Settings:
    """A monitor's settings, checked and normalised (``config`` holds no secret)."""

    name: str
    kind: str
    config: dict[str, Any]
    secrets: dict[str, str]
    component: Component | None
    interval_seconds: int
    timeout_seconds: float
    automation: str
    public: bool
    paused: bool
    role: str  # BY_KIND: the kind's default
    severity: str


# --- looking up and showing ---------------------------------------------------------------


def find_monitor(page: Page, ref: str) -> Monitor:
    """A page's monitor by id or name; InputError when there is none."""
    found = page.monitors.filter(pk=ref).first() or page.monitors.filter(name=ref).first()
    if found is None:
        raise InputError(f"page {page.name!r} has no monitor with id or name {ref!r}")
    return found


def secret_fields(kind: str) -> tuple[str, ...]:
    try:
        return tuple(probe_module(kind).SECRET_FIELDS)
    except (ConfigError, ImportError):
        return ()


def secret_status(monitor: Monitor) -> dict[str, str]:
    """``{"imap_password": "set", "smtp_password": "not set"}``: never the values."""
    names = list(dict.fromkeys([*secret_fields(monitor.kind), *sorted(monitor.secrets or {})]))
    return {name: SET if (monitor.secrets or {}).get(name) else NOT_SET for name in names}


def audit_view(monitor: Monitor) -> dict[str, Any]:
    """What the audit log keeps of a monitor: its settings, whether each secret is set."""
    return {
        "name": monitor.name,
        "kind": monitor.kind,
        "config": monitor.config,
        "secrets": secret_status(monitor),
        "component": monitor.component_id,
        "interval_seconds": monitor.interval_seconds,
        "timeout_seconds": monitor.timeout_seconds,
        "automation": monitor.automation,
        "public": monitor.public,
        "paused": monitor.paused,
        "role": monitor.acts_as,
        "severity": monitor.severity,
    }


# --- checking -------------------------------------------------------------------------------


def _module(kind: Any) -> ProbeModule:
    if not isinstance(kind, str):
        raise InputError(f"a monitor kind is one of: {', '.join(KINDS)}")
    try:
        return probe_module(kind)
    except ConfigError as exc:
        raise InputError(str(exc)) from None


def _check_config(module: ProbeModule, config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The normalised config, and the secrets that were written into it."""
    if not isinstance(config, Mapping):
        raise InputError("config must be an object of settings")
    check_json(config, "config")
    names = tuple(module.SECRET_FIELDS)
    inline = {k: v for k, v in config.items() if k in names}
    rest = {k: v for k, v in config.items() if k not in names}
    refuse_inline_credentials(rest, names)
    try:
        checked = dict(module.check_config(rest))
    except ConfigError as exc:
        raise InputError(f"config: {exc}") from None
    except (ValueError, TypeError, LookupError, AttributeError, OverflowError) as exc:
        raise InputError(f"config: unreadable settings ({type(exc).__name__})") from None
    for name in names:
        checked.pop(name, None)
    try:
        text = json.dumps(checked, allow_nan=False)
    except (TypeError, ValueError):
        raise InputError("config: numbers must be finite") from None
    if len(text) > MAX_CONFIG_CHARS:
        raise InputError(f"config: too long (at most {MAX_CONFIG_CHARS:,} characters)")
    return checked, inline


def _check_secrets(
    kind: str, names: tuple[str, ...], kept: Mapping[str, str], given: Mapping[str, Any]
) -> dict[str, str]:
    """The stored secrets after ``given``: a value sets one, None or "" clears it."""
    secrets = {k: v for k, v in kept.items() if k in names}
    for name, value in given.items():
        if name not in names:
            known = ", ".join(names) if names else "none"
            raise InputError(f"a {kind} monitor has no secret {name!r} (its secrets: {known})")
        if value is None or value == "":
            secrets.pop(name, None)
            continue
        if not isinstance(value, str) or len(value) > MAX_SECRET:
            raise InputError(f"the {name} secret must be text of at most {MAX_SECRET} characters")
        if any(c in value for c in "\x00\r\n"):
            raise InputError(f"the {name} secret must be one line, without NUL characters")
        secrets[name] = value
    return secrets


def _check_secret_forms(module: ProbeModule, secrets: Mapping[str, str]) -> None:
    """A kind's own rules for what its secrets look like (http: ``Name: value``)."""
    check_secrets = getattr(module, "check_secrets", None)
    try:
        if check_secrets is not None:
            check_secrets(secrets)
    except ConfigError as exc:
        raise InputError(f"secrets: {exc}") from None


def _is_number(value: Any) -> bool:
    """A finite int or float. Comparing an int with a float is exact in Python, so the range
    checks below never convert a huge int to a float (which would raise OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def default_timeout(interval: int) -> float:
    """The timeout of a monitor that names none: 30 s, or less to fit a short interval."""
    return min(DEFAULT_TIMEOUT, interval - LEASE_ROOM)


def _check_interval(interval: Any) -> int:
    if not _is_number(interval):
        raise InputError("the interval must be a whole number of seconds")
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL or interval != int(interval):
        raise InputError(
            f"the interval must be a whole number of seconds from {MIN_INTERVAL} to "
            f"{MAX_INTERVAL:,} (a week)"
        )
    return int(interval)


def _check_timing(interval: Any, timeout: Any) -> tuple[int, float]:
    """The interval and the timeout (None: the default for the interval)."""
    whole = _check_interval(interval)
    if timeout is None:
        return whole, default_timeout(whole)
    if not _is_number(timeout):
        raise InputError("the timeout must be a number of seconds")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise InputError(f"the timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    # A run's lease lasts the timeout + LEASE_ROOM: it must fit in the interval, so that a
    # dead worker's monitors move to another worker within one interval.
    if timeout + LEASE_ROOM > whole:
        raise InputError(
            f"the timeout must leave {LEASE_ROOM:g} s of the interval free (so a dead "
            f"worker's monitors move on within one interval): at most {whole - LEASE_ROOM:g} s "
            f"with an interval of {whole} s, or an interval of at least "
            f"{math.ceil(timeout + LEASE_ROOM)} s for a timeout of {timeout:g} s"
        )
    return whole, float(timeout)


def _check_component(page: Page, component: Any) -> Component | None:
    if component is None:
        return None
    if not isinstance(component, Component):
        raise InputError("a monitor's component must be a component or none")
    if component.page_id != page.pk:
        raise InputError(f"component {component.name!r} belongs to another page")
    return component


def _check_automation(automation: Any, component: Component | None) -> str:
    if automation not in AUTOMATIONS:
        raise InputError(f"automation must be one of {', '.join(AUTOMATIONS)}, not {automation!r}")
    if automation != AUTOMATION_OFF and component is None:
        raise InputError("incident automation needs a component: choose the one this monitor feeds")
    return str(automation)


def _check_role(role: Any) -> str:
    """A role, or BY_KIND for None or "" (the kind's default: rspamd and prometheus are
    signals, the rest paths)."""
    if role is None or role == BY_KIND:
        return BY_KIND
    if role not in ROLES:
        raise InputError(
            f"role must be one of {', '.join(ROLES)} (or empty for the kind's default), "
            f"not {role!r}"
        )
    return str(role)


def _check_severity(severity: Any, role: str, *, asked: bool) -> str:
    """What a signal in trouble makes its component. A path has none to give: setting one
    on it is refused (keeping the one it had as a signal is not, so edits still save)."""
    if severity not in SIGNAL_SEVERITIES:
        raise InputError(
            f"severity must be one of {', '.join(SIGNAL_SEVERITIES)}, not {severity!r}"
        )
    if asked and role == PATH and severity != DEGRADED:
        raise InputError(
            "severity applies to signals only: this monitor is a path (its verdicts are "
            'blended with the other paths); set role to "signal" or leave severity out'
        )
    return str(severity)


def _check_part(merged: Mapping[str, Any], monitor: Monitor | None) -> tuple[str, str]:
    """The role (BY_KIND or one of ROLES) and the severity, checked."""
    role = _check_role(merged["role"])
    had = monitor.severity if monitor is not None else DEGRADED
    acts_as = role or default_role(merged["kind"])
    severity = _check_severity(merged["severity"], acts_as, asked=merged["severity"] != had)
    return role, severity


def _current(monitor: Monitor | None) -> dict[str, Any]:
    if monitor is None:
        return {
            "config": {},
            "secrets": {},
            "component": None,
            "interval_seconds": 60,
            "timeout_seconds": None,
            "automation": AUTOMATION_OFF,
            "public": False,
            "paused": False,
            "role": BY_KIND,
            "severity": DEGRADED,
        }
    return {name: getattr(monitor, name) for name in FIELDS}


def check(page: Page, given: Mapping[str, Any], monitor: Monitor | None = None) -> Settings:
    """``monitor``'s settings (or a new one's) with ``given`` applied, all checked.

    Keys of ``given`` are the names in FIELDS; those left out keep their value. Its
    ``secrets`` name only the secrets to set (a value) or clear (None or ""); a
    ``timeout_seconds`` of None (a new monitor's) is the default for the interval.
    """
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise InputError(f"unknown monitor field {unknown[0]!r}")
    merged = {**_current(monitor), **{k: v for k, v in given.items() if k != "secrets"}}
    if isinstance(merged.get("name"), str):
        check_text(merged["name"], "name")  # before it reaches a query
    name = unique_name(page.monitors.all(), monitor.pk if monitor else None, "a monitor")(
        merged.get("name")
    )
    module = _module(merged.get("kind"))
    config, inline = _check_config(module, merged["config"])
    kept = merged["secrets"] if monitor is not None and monitor.kind == merged["kind"] else {}
    asked = given.get("secrets") or {}
    if not isinstance(asked, Mapping):
        raise InputError('secrets must be an object such as {"imap_password": "..."}')
    secrets = _check_secrets(merged["kind"], tuple(module.SECRET_FIELDS), kept, {**inline, **asked})
    _check_secret_forms(module, secrets)
    interval, timeout = _check_timing(merged["interval_seconds"], merged["timeout_seconds"])
    component = _check_component(page, merged["component"])
    role, severity = _check_part(merged, monitor)
    return Settings(
        name=name,
        kind=merged["kind"],
        config=config,
        secrets=secrets,
        component=component,
        interval_seconds=interval,
        timeout_seconds=timeout,
        automation=_check_automation(merged["automation"], component),
        public=check_bool("public")(merged["public"]),
        paused=check_bool("paused")(merged["paused"]),
        role=role,
        severity=severity,
    )


def changes(monitor: Monitor, settings: Settings) -> list[str]:
    """Which settings differ: ``config.smtp_host``, ``secrets.imap_password`` (names only)."""
    found = []
    for name, value in values(settings).items():
        if name in ("config", "secrets"):
            old, new = getattr(monitor, name) or {}, value
            found += [
                f"{name}.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
            ]
        elif name == "component":
            if monitor.component_id != (settings.component.pk if settings.component else None):
                found.append(name)
        elif getattr(monitor, name) != value:
            found.append(name)
    return found


# --- writing --------------------------------------------------------------------------------


def _record(actor: str, action: str, monitor: Monitor, before: dict[str, Any] | None) -> None:
    after = None if action == "monitor.delete" else audit_view(monitor)
    trail.record(
        actor=actor,
        action=action,
        target=monitor,
        page_id=monitor.page_id,
        before=before,
        after=after,
    )


@transaction.atomic
def create_monitor(
    *,
    page: Page,
    name: str,
    kind: str,
    config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str | None] | None = None,
    component: Component | None = None,
    interval_seconds: int = 60,
    timeout_seconds: float | None = None,
    automation: str = AUTOMATION_OFF,
    public: bool = False,
    paused: bool = False,
    role: str = BY_KIND,
    severity: str = DEGRADED,
    actor: str = "cli",
) -> Monitor:
    """A new monitor, first run at a jittered moment within its interval (a timeout of
    None: the default for the interval)."""
    given = dict(
        name=name,
        kind=kind,
        config=config or {},
        secrets=secrets or {},
        component=component,
        interval_seconds=interval_seconds,
        timeout_seconds=timeout_seconds,
        automation=automation,
        public=public,
        paused=paused,
        role=role,
        severity=severity,
    )
    settings = check(page, given)
    now = timezone.now()
    monitor = Monitor.objects.create(
        page=page,
        **values(settings),
        created_at=now,
        updated_at=now,
        next_run_at=first_run_at(settings.interval_seconds, now),
    )
    _record(actor, "monitor.create", monitor, None)
    return monitor


@transaction.atomic
def update_monitor(
    *,
    monitor: Monitor,
    actor: str = "cli",
    name: str | Unset = UNSET,
    kind: str | Unset = UNSET,
    config: Mapping[str, Any] | Unset = UNSET,
    secrets: Mapping[str, str | None] | Unset = UNSET,
    component: Component | None | Unset = UNSET,
    interval_seconds: int | Unset = UNSET,
    timeout_seconds: float | Unset = UNSET,
    automation: str | Unset = UNSET,
    public: bool | Unset = UNSET,
    paused: bool | Unset = UNSET,
    role: str | None | Unset = UNSET,
    severity: str | Unset = UNSET,
) -> Monitor:
    """Change the settings given; a secret left out keeps its value. Nothing is written
    (and nothing audited) when nothing changes."""
    given = dict(
        name=name,
        kind=kind,
        config=config,
        secrets=secrets,
        component=component,
        interval_seconds=interval_seconds,
        timeout_seconds=timeout_seconds,
        automation=automation,
        public=public,
        paused=paused,
        role=role,
        severity=severity,
    )
    settings = check(monitor.page, {k: v for k, v in given.items() if v is not UNSET}, monitor)
    return save(monitor=monitor, settings=settings, actor=actor)


def save(*, monitor: Monitor, settings: Settings, actor: str) -> Monitor:
    """Write checked settings (see ``check``) and audit them, when anything changed.

    Only the fields the edit changes are written: the scheduler and the automation write
    the lease, next_run_at, state, incident and last_* fields meanwhile, and ``monitor``
    may be a stale copy of them (loaded when the form was shown, or the file planned).
    """
    changed = changes(monitor, settings)
    if not changed:
        return monitor
    with transaction.atomic():
        before = audit_view(monitor)
        written = _set_changed(monitor, settings, changed)
        if not Monitor.objects.filter(pk=monitor.pk).update(**written):
            raise InputError(f"monitor {before['name']!r} was deleted meanwhile")
        _record(actor, "monitor.update", monitor, before)
    return monitor


def _set_changed(monitor: Monitor, settings: Settings, changed: list[str]) -> dict[str, Any]:
    """Set the changed settings on ``monitor``; the fields to write, with their values."""
    new = values(settings)
    written = {name: new[name] for name in dict.fromkeys(c.partition(".")[0] for c in changed)}
    now = timezone.now()
    if {"kind", "component"} & set(written):
        written["state"] = {}  # the hysteresis belonged to the old path
    if "interval_seconds" in written:
        written["next_run_at"] = min(
            _next_run_at(monitor), first_run_at(settings.interval_seconds, now)
        )
    written["updated_at"] = now
    for name, value in written.items():
        setattr(monitor, name, value)
    return written


def _next_run_at(monitor: Monitor) -> datetime:
    """The stored next run (the scheduler moves it on; this copy's may be stale), locked."""
    stored = Monitor.objects.select_for_update().filter(pk=monitor.pk)
    return stored.values_list("next_run_at", flat=True).first() or monitor.next_run_at


@transaction.atomic
def delete_monitor(*, monitor: Monitor, actor: str = "cli") -> None:
    """Delete a monitor with its results and metric points (statuses it set stay)."""
    _record(actor, "monitor.delete", monitor, audit_view(monitor))
    monitor.delete()


def _set_paused(monitor: Monitor, paused: bool, actor: str) -> Monitor:
    with transaction.atomic():
        locked = Monitor.objects.select_for_update().get(pk=monitor.pk)
        if locked.paused == paused:
            monitor.paused = paused
            return monitor
        now = timezone.now()
        fields: dict[str, Any] = {"paused": paused, "updated_at": now}
        if not paused:
            fields["next_run_at"] = first_run_at(min(monitor.interval_seconds, RESUME_SOON), now)
        Monitor.objects.filter(pk=monitor.pk).update(**fields)
        for name, value in fields.items():
            setattr(monitor, name, value)
        trail.record(
            actor=actor,
            action="monitor.resume" if not paused else "monitor.pause",
            target=monitor,
            page_id=monitor.page_id,
            before={"paused": not paused},
            after={"paused": paused},
        )
    return monitor


def pause_monitor(*, monitor: Monitor, actor: str = "cli") -> Monitor:
    """Stop running it (its results stop feeding the component); no-op when paused."""
    return _set_paused(monitor, True, actor)


def resume_monitor(*, monitor: Monitor, actor: str = "cli") -> Monitor:
    """Run it again, starting within a few seconds; no-op when it is running."""
    return _set_paused(monitor, False, actor)


@transaction.atomic
def run_now(*, monitor: Monitor, actor: str = "cli") -> Monitor:
    """Make it due now: a worker runs it within a tick (unless a run is under way)."""
    if monitor.paused:
        raise InputError(f"monitor {monitor.name!r} is paused; resume it to run it")
    now = timezone.now()
    Monitor.objects.filter(pk=monitor.pk).update(next_run_at=now)
    monitor.next_run_at = now
    trail.record(
        actor=actor,
        action="monitor.run",
        target=monitor,
        page_id=monitor.page_id,
        after={"next_run_at": now.isoformat()},
    )
    return monitor


def running(monitor: Monitor) -> bool:
    """Whether a worker holds it now (a run is under way)."""
    return bool(monitor.leased_until and monitor.leased_until > timezone.now())
