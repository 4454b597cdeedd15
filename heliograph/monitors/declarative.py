"""Monitors kept in version control: ``heliograph monitors apply monitors.toml``.

The file lists monitors as ``[[monitor]]`` tables. Applying it creates the ones that do not
exist, updates the ones that differ (matched by page and name) and reports the others as
unchanged; with ``prune`` it also deletes the monitors of the file's pages that the file
does not name. The whole file is checked first: one error anywhere and nothing changes.

The file is the truth for every setting it may hold — a setting left out takes its default
(interval 60 s, timeout 30 s or less to fit a short interval, automation "off", public
false, no component, the kind's role, severity "degraded_performance") — with two
exceptions: ``paused`` left out keeps what the console or API set (new monitors run), and
a secret left out keeps its stored value (set it once in the console, if you prefer).

Secrets never come from the file itself, which lives in version control: each is
``{ env = "NAME" }`` and read from that environment variable when applying. A secret
written as a literal string (in ``[monitor.secrets]`` or in ``[monitor.config]``) is an
error, as is a variable that is not set.

Example::

    page = "OpenSRS"                     # the default page for the monitors below

    [[monitor]]
    name = "Inbound — Cluster A"
    component = "Cluster A"              # optional: the component it feeds
    kind = "mail_roundtrip"
    interval = 180                       # seconds between runs (at least 10)
    timeout = 150                        # seconds one run may take (interval - 6 at most)
    automation = "draft"                 # off | draft | publish
    public = true                        # chart it on the public page
    # role = "path"                      # path | signal (default by kind: rspamd and
    #                                    # prometheus are signals)
    # severity = "partial_outage"        # a signal's, when in trouble (default degraded)

    [monitor.config]
    smtp_host = "mx.cluster-a.example.net"
    mail_from = "probe@example.org"
    mail_to = "probe-a@example.net"
    imap_host = "imap.example.net"
    imap_username = "probe-a@example.net"

    [monitor.secrets]
    imap_password = { env = "CLUSTER_A_IMAP_PASSWORD" }
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from heliograph.catalog.models import Page
from heliograph.catalog.services import find_component, find_page
from heliograph.catalog.status import DEGRADED
from heliograph.lib.errors import InputError
from heliograph.monitors import services
from heliograph.monitors.models import Monitor

CREATE, UPDATE, UNCHANGED, DELETE = "create", "update", "unchanged", "delete"
ENTRY_KEYS = (
    "name", "page", "component", "kind", "interval", "timeout", "automation", "public",
    "paused", "role", "severity", "config", "secrets",
)  # fmt: skip
TOP_KEYS = ("page", "monitor")
_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*monitor[ \t]*\]\]", re.MULTILINE)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FileErrors(InputError):
    """Everything wrong with a file; nothing was changed."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        super().__init__(f"{count} in the file, nothing changed: " + "; ".join(errors[:3]))


@dataclass(frozen=True)
class Step:
    action: str  # create | update | unchanged | delete
    page: Page
    name: str
    changes: tuple[str, ...] = ()  # setting names only, never a value
    monitor: Monitor | None = None
    settings: services.Settings | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"page": self.page.name, "name": self.name}
        if self.action == UPDATE:
            data["changes"] = list(self.changes)
        return data


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)

    def of(self, action: str) -> list[Step]:
        return [s for s in self.steps if s.action == action]


# --- reading the file -----------------------------------------------------------------------


def parse(text: str) -> tuple[dict[str, Any], list[int]]:
    """The TOML document and the line of each ``[[monitor]]`` header."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileErrors([f"not valid TOML: {exc}"]) from None
    except RecursionError:  # tomllib recurses once per level of [ or {
        raise FileErrors(["not valid TOML: arrays or tables nested too deeply"]) from None
    except ValueError as exc:  # an integer of more than 4,300 digits (Python's limit)
        reason = str(exc).split(";")[0]  # not the advice to raise the interpreter's limit
        raise FileErrors([f"not valid TOML: an unreadable value ({reason})"]) from None
    lines = [text.count("\n", 0, m.start()) + 1 for m in _HEADER.finditer(text)]
    return document, lines


def _where(index: int, entry: Any, lines: list[int]) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    label = f"monitor {index + 1}" + (f" {name!r}" if isinstance(name, str) else "")
    if len(lines) > index:
        label += f" (line {lines[index]})"
    return label


def _secret(name: str, value: Any, environ: Mapping[str, str]) -> str:
    if isinstance(value, str):
        raise InputError(
            f'secrets.{name}: write {{ env = "NAME" }} and set that environment variable; '
            "a secret's value never goes in the file"
        )
    if not isinstance(value, dict) or set(value) != {"env"} or not isinstance(value["env"], str):
        raise InputError(f'secrets.{name}: write {{ env = "NAME" }}')
    variable = value["env"]
    if not _ENV_NAME.match(variable):
        raise InputError(f"secrets.{name}: {variable!r} is not an environment variable name")
    found = environ.get(variable)
    if not found:
        raise InputError(f"secrets.{name}: the environment variable {variable} is not set")
    return found


def _secrets(kind: Any, entry: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    config, given = entry.get("config", {}), entry.get("secrets", {})
    if not isinstance(given, dict):
        raise InputError('secrets must be a table: [monitor.secrets] name = { env = "NAME" }')
    names = services.secret_fields(kind) if isinstance(kind, str) else ()
    for name in names:
        if isinstance(config, dict) and name in config:
            raise InputError(
                f'config.{name} is a secret: give it under [monitor.secrets] as {{ env = "NAME" }}'
            )
    return {name: _secret(name, value, environ) for name, value in given.items()}


def _page(entry: dict[str, Any], default: str | None) -> Page:
    ref = entry.get("page", default)
    if ref is None:
        pages = list(Page.objects.all()[:2])
        if len(pages) == 1:
            return pages[0]
        raise InputError('say which page: page = "NAME" (in the monitor, or at the top)')
    if not isinstance(ref, str):
        raise InputError("page must be a page's name or id")
    return find_page(ref)


def _given(page: Page, entry: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The service's fields for one entry (defaults for what it leaves out)."""
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r}; a monitor takes: {', '.join(ENTRY_KEYS)}")
    for key in ("name", "kind"):
        if key not in entry:
            raise InputError(f"{key} is required")
    component = entry.get("component")
    if component is not None and not isinstance(component, str):
        raise InputError("component must be a component's name or id")
    given = {
        "name": entry["name"],
        "kind": entry["kind"],
        "config": entry.get("config", {}),
        "secrets": _secrets(entry["kind"], entry, environ),
        "component": find_component(page, component) if component else None,
        "interval_seconds": entry.get("interval", 60),
        "timeout_seconds": entry.get("timeout"),  # None: the default for the interval
        "automation": entry.get("automation", "off"),
        "public": entry.get("public", False),
        "role": entry.get("role"),  # None: the kind's
        "severity": entry.get("severity", DEGRADED),
    }
    if "paused" in entry:
        given["paused"] = entry["paused"]
    return given


def _step(entry: Any, default_page: str | None, environ: Mapping[str, str]) -> Step:
    if not isinstance(entry, dict):
        raise InputError("each [[monitor]] must be a table")
    services.check_json(entry, "monitor")  # no NUL (nor a date) may reach a query
    page = _page(entry, default_page)
    given = _given(page, entry, environ)
    existing = page.monitors.filter(name=str(given["name"]).strip()).first()
    settings = services.check(page, given, existing)
    if existing is None:
        return Step(CREATE, page, settings.name, settings=settings)
    changed = tuple(services.changes(existing, settings))
    action = UPDATE if changed else UNCHANGED
    return Step(action, page, settings.name, changed, existing, settings)


def _entries(document: dict[str, Any]) -> tuple[list[Any], str | None]:
    unknown = sorted(set(document) - set(TOP_KEYS))
    if unknown:
        raise FileErrors([f"unknown top-level key {unknown[0]!r}; use [[monitor]] tables"])
    entries, default = document.get("monitor", []), document.get("page")
    if not isinstance(entries, list):
        raise FileErrors(["monitors are written as [[monitor]] tables"])
    if default is not None and not isinstance(default, str):
        raise FileErrors(["page (at the top) must be a page's name or id"])
    return entries, default


# --- planning and applying ------------------------------------------------------------------


def plan(text: str, *, environ: Mapping[str, str], prune: bool = False) -> Plan:
    """What applying ``text`` would do; FileErrors (every problem found) if anything is wrong."""
    document, lines = parse(text)
    entries, default = _entries(document)
    result, errors, seen = Plan(), [], set()
    for index, entry in enumerate(entries):
        try:
            step = _step(entry, default, environ)
        except InputError as exc:
            errors.append(f"{_where(index, entry, lines)}: {exc}")
            continue
        if (step.page.pk, step.name) in seen:
            errors.append(f"{_where(index, entry, lines)}: named twice on page {step.page.name!r}")
        seen.add((step.page.pk, step.name))
        result.steps.append(step)
    if errors:
        raise FileErrors(errors)
    if prune:
        result.steps += _pruned(result, default, seen)
    return result


def _pruned(result: Plan, default: str | None, kept: set[tuple[str, str]]) -> list[Step]:
    pages = {s.page.pk: s.page for s in result.steps}
    if default is not None:
        page = find_page(default)
        pages[page.pk] = page
    doomed = Monitor.objects.filter(page__in=list(pages)).order_by("page__name", "name")
    return [
        Step(DELETE, pages[m.page_id], m.name, monitor=m)
        for m in doomed
        if (m.page_id, m.name) not in kept
    ]


@transaction.atomic
def apply(result: Plan, *, actor: str = "cli") -> None:
    """Carry a plan out, all in one transaction."""
    for step in result.steps:
        if step.action == DELETE and step.monitor is not None:
            services.delete_monitor(monitor=step.monitor, actor=actor)
        elif step.action == UPDATE and step.monitor and step.settings:
            services.save(monitor=step.monitor, settings=step.settings, actor=actor)
        elif step.action == CREATE and step.settings:
            given = services.values(step.settings)
            services.create_monitor(page=step.page, actor=actor, **given)


def apply_text(
    text: str,
    *,
    environ: Mapping[str, str],
    prune: bool = False,
    dry_run: bool = False,
    actor: str = "cli",
) -> Plan:
    """Check ``text``, then (unless ``dry_run``) apply it; FileErrors when it has problems."""
    result = plan(text, environ=environ, prune=prune)
    if not dry_run:
        apply(result, actor=actor)
    return result
