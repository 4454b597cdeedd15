"""``heliograph monitors apply FILE.toml`` and ``heliograph monitors list``.

Output names secrets (``secrets.imap_password``) and says whether each is set; it never
shows a secret's value.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog.services import find_page
from heliograph.lib.command import HeliographCommand
from heliograph.lib.errors import InputError
from heliograph.monitors import declarative, services
from heliograph.monitors.evaluator import SIGNAL
from heliograph.monitors.models import Monitor

FORMAT = """\
The file holds [[monitor]] tables (TOML), matched to existing monitors by page and name:

  page = "OpenSRS"                    # default page for the monitors below

  [[monitor]]
  name = "Inbound — Cluster A"
  component = "Cluster A"             # optional
  kind = "mail_roundtrip"             # http tcp tls_certificate dns smtp mail_roundtrip
                                      # rspamd prometheus
  interval = 180                      # seconds (default 60, at least 10)
  timeout = 150                       # seconds (default 30, at most interval - 6)
  automation = "draft"                # off (default) | draft | publish
  public = true                       # default false
  role = "signal"                     # path | signal (default: rspamd and prometheus
                                      # are signals, the rest paths)
  severity = "partial_outage"         # a signal in trouble makes its component this
                                      # (default degraded_performance)
  # paused = true                     # left out: keeps what the console set

  [monitor.config]
  smtp_host = "mx.cluster-a.example.net"
  ...

  [monitor.secrets]                   # from the environment, never from the file
  imap_password = { env = "CLUSTER_A_IMAP_PASSWORD" }

Settings left out take their defaults; secrets left out keep their stored value.
The whole file is checked first: one error and nothing changes.
"""
VERBS = {
    declarative.CREATE: ("created", "would create"),
    declarative.UPDATE: ("updated", "would update"),
    declarative.UNCHANGED: ("unchanged", "unchanged"),
    declarative.DELETE: ("deleted", "would delete"),
}


def plan_text(result: declarative.Plan, dry_run: bool) -> str:
    lines = []
    for step in result.steps:
        verb = VERBS[step.action][1 if dry_run else 0]
        extra = f"  ({', '.join(step.changes)})" if step.changes else ""
        lines.append(f"{verb:<13} {step.page.name} / {step.name}{extra}")
    counts = [
        f"{len(result.of(action))} {VERBS[action][1 if dry_run else 0]}"
        for action in VERBS
        if result.of(action)
    ]
    lines.append(", ".join(counts) if counts else "the file names no monitor")
    return "\n".join(lines)


def plan_json(result: declarative.Plan, path: Path, dry_run: bool) -> dict[str, Any]:
    keys = {
        declarative.CREATE: "created",
        declarative.UPDATE: "updated",
        declarative.UNCHANGED: "unchanged",
        declarative.DELETE: "deleted",
    }
    data: dict[str, Any] = {"file": str(path), "dry_run": dry_run}
    for action, key in keys.items():
        data[key] = [step.as_json() for step in result.of(action)]
    return data


def monitor_json(monitor: Monitor) -> dict[str, Any]:
    return {
        "id": monitor.pk,
        "page": monitor.page.name,
        "name": monitor.name,
        "kind": monitor.kind,
        "component": monitor.component.name if monitor.component else None,
        "interval_seconds": monitor.interval_seconds,
        "timeout_seconds": monitor.timeout_seconds,
        "automation": monitor.automation,
        "public": monitor.public,
        "paused": monitor.paused,
        "role": monitor.acts_as,
        "severity": monitor.severity,
        "config": monitor.config,
        "secrets": services.secret_status(monitor),
        "last_run_at": monitor.last_run_at.isoformat() if monitor.last_run_at else None,
        "last_verdict": monitor.last_verdict or None,
        "last_reason": monitor.last_reason,
    }


def monitor_line(monitor: Monitor) -> str:
    verdict = monitor.last_verdict or "not run yet"
    when = f" at {monitor.last_run_at:%Y-%m-%d %H:%M} UTC" if monitor.last_run_at else ""
    paused = "  [paused]" if monitor.paused else ""
    feeds = f" → {monitor.component.name}" if monitor.component else ""
    if monitor.component and monitor.acts_as == SIGNAL:
        feeds += f" (signal: {monitor.severity})"
    return (
        f"{monitor.pk}  {monitor.page.name} / {monitor.name}  {monitor.kind}{feeds}  "
        f"every {monitor.interval_seconds}s  {verdict}{when}{paused}"
    )


class Command(HeliographCommand):
    help = "Apply monitors from a TOML file, or list them."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        apply = actions.add_parser(
            "apply",
            help="create, update (and with --prune delete) monitors from a TOML file",
            epilog=FORMAT,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        apply.add_argument("file", type=Path, metavar="FILE.toml")
        apply.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
        apply.add_argument(
            "--prune",
            action="store_true",
            help="also delete the monitors of the file's pages that the file does not name",
        )
        self.add_json_flag(apply)
        listing = actions.add_parser("list", help="list monitors and their last verdict")
        listing.add_argument("--page", help="only this page (id or name)")
        self.add_json_flag(listing)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "apply":
            self.apply(options)
        else:
            self.list(options)

    def apply(self, options: dict[str, Any]) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {path}: {exc}") from None
        try:
            result = declarative.apply_text(
                text, environ=os.environ, prune=options["prune"], dry_run=options["dry_run"]
            )
        except declarative.FileErrors as exc:
            for error in exc.errors:
                self.stderr.write(f"{path}: {error}")
            noun = "error" if len(exc.errors) == 1 else "errors"
            raise InputError(f"{len(exc.errors)} {noun} in {path}; nothing changed") from None
        dry_run = options["dry_run"]
        self.emit(options, plan_json(result, path, dry_run), plan_text(result, dry_run))

    def list(self, options: dict[str, Any]) -> None:
        found = Monitor.objects.select_related("page", "component").order_by("page__name", "name")
        if options["page"]:
            found = found.filter(page=find_page(options["page"]))
        monitors = list(found)
        text = "\n".join(monitor_line(m) for m in monitors) or "no monitors yet"
        self.emit(options, {"monitors": [monitor_json(m) for m in monitors]}, text)
