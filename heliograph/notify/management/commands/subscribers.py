"""``heliograph subscribers import FILE.csv``: bring an existing subscriber list over."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from heliograph.catalog.models import Page
from heliograph.catalog.services import find_page
from heliograph.lib.command import HeliographCommand
from heliograph.lib.errors import InputError
from heliograph.notify.importing import InvalidRows, Result, import_subscribers

FORMAT = """\
The CSV file starts with a header row. Columns (any case, others ignored):
  email       the subscriber's address; for a webhook, the contact told about quarantine
  endpoint    a webhook URL (the row is then a webhook subscriber)
  components  component ids or exact names on the page, separated by ';' (empty: all)
Every row needs an email or an endpoint. UTF-8, with or without a byte-order mark.
"""


class Bar:
    """The import's progress drawn by rich (nothing is drawn when rich is disabled)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def start(self, label: str, total: int) -> None:
        self.task = self.progress.add_task(label, total=total)

    def advance(self, amount: int) -> None:
        if self.task is not None and amount:
            self.progress.advance(self.task, amount)


def choose_page(ref: str | None) -> Page:
    """The page named by --page; without it, the only page there is."""
    if ref:
        return find_page(ref)
    pages = list(Page.objects.all()[:2])
    if len(pages) == 1:
        return pages[0]
    if not pages:
        raise InputError("there is no page yet; create one with `heliograph page create NAME`")
    raise InputError("there are several pages; choose one with --page")


def summary(result: Result, dry_run: bool) -> str:
    """``imported 4,998 · already subscribed 1 · skipped 1 (unsubscribed earlier)``."""
    parts = [
        f"{'would import' if dry_run else 'imported'} {result.imported:,}",
        f"already subscribed {result.already_subscribed:,}",
        f"skipped {result.unsubscribed_earlier:,} (unsubscribed earlier)",
    ]
    if result.repeated:
        parts.append(f"repeated in the file {result.repeated:,}")
    if result.errors:
        parts.append(f"invalid rows skipped {len(result.errors):,}")
    if result.confirmations:
        queued = "to queue" if dry_run else "queued"
        parts.append(f"confirmation e-mails {queued} {result.confirmations:,}")
    return " · ".join(parts)


def describe(page: Page, result: Result, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "page": page.pk,
        "file": str(options["file"]),
        "dry_run": options["dry_run"],
        "confirmed": options["confirmed"],
        "imported": result.imported,
        "emails": result.emails,
        "webhooks": result.webhooks,
        "confirmation_emails": result.confirmations,
        "already_subscribed": result.already_subscribed,
        "unsubscribed_earlier": result.unsubscribed_earlier,
        "repeated_in_file": result.repeated,
        "invalid": len(result.errors),
        "errors": result.errors,
        "ignored_columns": result.ignored_columns,
    }


class Command(HeliographCommand):
    help = "Import subscribers from a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        importer = actions.add_parser(
            "import",
            help="import subscribers from a CSV file",
            epilog=FORMAT,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        importer.add_argument("file", type=Path, metavar="FILE.csv")
        importer.add_argument("--page", help="page id or name (needed when there are several)")
        importer.add_argument(
            "--confirmed",
            action="store_true",
            help="they opted in elsewhere: subscribe them confirmed, send no confirmation e-mail",
        )
        importer.add_argument(
            "--skip-invalid",
            action="store_true",
            help="import the good rows and report the bad ones (default: import nothing)",
        )
        importer.add_argument(
            "--dry-run", action="store_true", help="check the file and count, write nothing"
        )
        self.add_json_flag(importer)

    def handle(self, *args: Any, **options: Any) -> None:
        page = choose_page(options["page"])
        try:
            result = self.run_import(page, options)
        except InvalidRows as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise
        if result.ignored_columns:
            names = ", ".join(repr(name) for name in result.ignored_columns)
            self.stderr.write(f"Warning: ignored column(s) {names}")
        for error in result.errors:
            self.stderr.write(f"Warning: skipped {error}")
        self.emit(options, describe(page, result, options), summary(result, options["dry_run"]))

    def run_import(self, page: Page, options: dict[str, Any]) -> Result:
        console = Console(file=getattr(self.stderr, "_out", sys.stderr))
        columns = (
            TextColumn("{task.description:<10}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
            return import_subscribers(
                page=page,
                path=options["file"],
                confirmed=options["confirmed"],
                skip_invalid=options["skip_invalid"],
                dry_run=options["dry_run"],
                actor="cli",
                progress=Bar(progress),
            )
