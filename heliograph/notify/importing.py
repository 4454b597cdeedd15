"""Importing existing subscribers from a CSV file (``heliograph subscribers import``).

The first line names the columns (any case; other columns are ignored): ``email`` or
``endpoint`` on every row, and optionally ``components``. A row with an endpoint is a
webhook, its ``email`` (optional) the contact told about quarantine; a row with only an
e-mail address is an e-mail subscriber. ``components`` holds component ids or exact names
on the page separated by ``;`` (empty: the whole page). The file is UTF-8, with or without
a byte-order mark, comma-separated (semicolon- or tab-separated when the header has no
comma, as some spreadsheet locales write it).

The whole file is checked before anything is written: one bad row fails the import, every
problem listed by line, unless the caller skips bad rows. An address already subscribed to
the page is left alone, and one that unsubscribed is never subscribed again. Rows are
written in chunks, each in its own short transaction (SQLite writers wait on each other):
a run interrupted half-way can be repeated, what it wrote then counting as already there.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, TextIO
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from heliograph.audit import trail
from heliograph.catalog.models import Page
from heliograph.lib.csvcells import restore
from heliograph.lib.errors import InputError
from heliograph.lib.ids import new_ids
from heliograph.notify import outbox
from heliograph.notify.models import EMAIL, WEBHOOK, Notification, Subscriber
from heliograph.notify.subscriptions import (
    MAX_ENDPOINT,
    check_url_characters,
    clean_email,
    clean_endpoint,
)

COLUMNS = ("email", "endpoint", "components")
# Written by the console's export; rows they mark cannot become page-wide subscribers.
GUARD_COLUMNS = ("state", "incident")
COMPONENT_SEPARATOR = ";"
DELIMITERS = (",", ";", "\t")
CHUNK = 1000  # rows per transaction, and per step of the progress bar
Key = tuple[str, str]
Link = Subscriber.components.through


class Progress(Protocol):
    """Told how far the import is: one task per phase ("checking", "importing")."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, amount: int) -> None: ...


class Quiet:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


class InvalidRows(InputError):
    """Some rows are bad; nothing was written. ``errors`` has one line per bad row."""

    def __init__(self, message: str, errors: list[str]) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Row:
    kind: str
    email: str
    endpoint: str
    components: tuple[str, ...]

    @property
    def key(self) -> Key:
        """Who the row is: e-mail addresses compare without case, as subscribing does."""
        return (EMAIL, self.email.lower()) if self.kind == EMAIL else (WEBHOOK, self.endpoint)


@dataclass
class Table:
    """The file's non-blank records with the line each starts on."""

    name: str
    columns: dict[str, int]
    ignored: list[str]
    records: list[tuple[int, list[str]]]


@dataclass
class Result:
    file: str
    ignored_columns: list[str]
    errors: list[str] = field(default_factory=list)  # bad rows skipped (skip_invalid)
    emails: int = 0
    webhooks: int = 0
    confirmations: int = 0  # confirmation e-mails queued
    already_subscribed: int = 0
    unsubscribed_earlier: int = 0
    repeated: int = 0  # rows naming someone an earlier row of the file named

    @property
    def imported(self) -> int:
        return self.emails + self.webhooks


# --- reading ------------------------------------------------------------------------------


def read_table(path: Path) -> Table:
    """The file's header and records; InputError when it cannot be read as such a CSV."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return _parse(path.name, file)
    except UnicodeDecodeError:
        raise InputError(
            f"{path} is not UTF-8 text (save it as \u201cCSV UTF-8\u201d and try again)"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parse(name: str, file: TextIO) -> Table:
    header = file.readline()
    if not header.strip():
        raise InputError(
            f"{name} has no header row: its first line must name the columns, e.g. email,components"
        )
    delimiter = max(DELIMITERS, key=header.count) if header.count(",") == 0 else ","
    reader = csv.reader(itertools.chain([header], file), delimiter=delimiter, strict=True)
    try:
        columns, ignored = _columns(name, next(reader))
        records, last = [], reader.line_num
        for values in reader:
            start, last = last + 1, reader.line_num
            if any(value.strip() for value in values):
                records.append((start, values))
    except csv.Error as exc:
        raise InputError(f"{name}, line {reader.line_num}: not valid CSV ({exc})") from None
    return Table(name, columns, ignored, records)


def _columns(name: str, header: list[str]) -> tuple[dict[str, int], list[str]]:
    columns: dict[str, int] = {}
    ignored = []
    for position, title in enumerate(header):
        column = title.strip().lower()
        if column in columns:
            raise InputError(f"{name}: the column {column!r} appears twice in the header")
        if column in COLUMNS + GUARD_COLUMNS:
            columns[column] = position
        elif column:
            ignored.append(title.strip())
    if "email" not in columns and "endpoint" not in columns:
        found = ", ".join(repr(t.strip()) for t in header if t.strip()) or "nothing"
        raise InputError(
            f"{name} has no 'email' or 'endpoint' column (its header names {found[:200]})"
        )
    return columns, ignored


# --- checking -----------------------------------------------------------------------------


class Checker:
    """Turns one record into a Row, or raises InputError saying what is wrong with it."""

    def __init__(self, page: Page, columns: dict[str, int]) -> None:
        self.page = page
        self.columns = columns
        found = list(page.components.values_list("pk", "name"))
        self.components = {name: pk for pk, name in found} | {pk: pk for pk, _ in found}
        self.hosts: dict[tuple[str, str, int | None], str] = {}  # "" = allowed

    def row(self, values: list[str]) -> Row:
        if self._cell(values, "state").lower() == "unsubscribed":
            raise InputError("this subscriber unsubscribed (exported with state unsubscribed)")
        if self._cell(values, "incident"):
            raise InputError("a single-incident subscription cannot be imported")
        email, endpoint, components = (self._cell(values, column) for column in COLUMNS)
        chosen = self._components(components)
        if endpoint:
            contact = clean_email(email) if email else ""
            return Row(WEBHOOK, contact, self._endpoint(endpoint), chosen)
        if not email:
            raise InputError("no e-mail address and no webhook endpoint")
        return Row(EMAIL, clean_email(email), "", chosen)

    def _cell(self, values: list[str], column: str) -> str:
        position = self.columns.get(column)
        if position is None or position >= len(values):
            return ""
        return restore(values[position]).strip()  # the quote our export puts before "=" etc.

    def _components(self, cell: str) -> tuple[str, ...]:
        refs = [ref.strip() for ref in cell.split(COMPONENT_SEPARATOR) if ref.strip()]
        unknown = [ref for ref in refs if ref not in self.components]
        if unknown:
            mixed = any(set(",|") & set(ref) for ref in unknown)
            hint = " (separate components with ';')" if mixed else ""
            names = ", ".join(repr(ref) for ref in unknown)
            raise InputError(
                f"page {self.page.name!r} has no component with id or name {names}{hint}"
            )
        return tuple(dict.fromkeys(self.components[ref] for ref in refs))

    def _endpoint(self, url: str) -> str:
        """clean_endpoint, resolving each host once (a file may name one host many times)."""
        check_url_characters(url)
        try:
            parts = urlsplit(url)
            key = (parts.scheme.lower(), parts.hostname or "", parts.port)
        except ValueError:
            return clean_endpoint(url)  # a bad port: refused with its own message
        if key[0] not in ("http", "https") or not key[1] or len(url) > MAX_ENDPOINT:
            return clean_endpoint(url)  # refused before any lookup; nothing to remember
        if key not in self.hosts:
            try:
                clean_endpoint(url)
                self.hosts[key] = ""
            except InputError as exc:
                self.hosts[key] = str(exc)
        if self.hosts[key]:
            raise InputError(self.hosts[key])
        return url


def check_rows(page: Page, table: Table, progress: Progress) -> tuple[list[Row], list[str]]:
    """Every good row, and one ``line N: reason`` for every bad one."""
    checker = Checker(page, table.columns)
    rows: list[Row] = []
    errors: list[str] = []
    progress.start("checking", len(table.records))
    for done, (line, values) in enumerate(table.records, 1):
        try:
            rows.append(checker.row(values))
        except InputError as exc:
            errors.append(f"line {line}: {exc}")
        if done % CHUNK == 0:
            progress.advance(CHUNK)
    progress.advance(len(table.records) % CHUNK)
    return rows, errors


# --- sorting out who is new ---------------------------------------------------------------


def _existing(page: Page) -> tuple[set[Key], set[Key]]:
    """Who is subscribed to the whole page now, and who unsubscribed from anything on it."""
    active: set[Key] = set()
    gone: set[Key] = set()
    rows = Subscriber.objects.filter(page=page).values_list(
        "kind", "email", "endpoint", "incident_id", "unsubscribed_at"
    )
    for kind, email, endpoint, incident_id, unsubscribed_at in rows.iterator(chunk_size=5000):
        key = (EMAIL, email.lower()) if kind == EMAIL else (WEBHOOK, endpoint)
        if unsubscribed_at is not None:
            gone.add(key)
        elif incident_id is None:
            active.add(key)
    return active, gone


def sort_out(page: Page, rows: Iterable[Row], result: Result) -> list[Row]:
    """The rows to write; the others are counted in ``result``."""
    active, gone = _existing(page)
    seen: set[Key] = set()
    new = []
    for row in rows:
        if row.key in seen:
            result.repeated += 1
            continue
        seen.add(row.key)
        if row.key in active:
            result.already_subscribed += 1
        elif row.key in gone:
            result.unsubscribed_earlier += 1
        else:
            new.append(row)
    result.emails = sum(1 for row in new if row.kind == EMAIL)
    result.webhooks = len(new) - result.emails
    return new


# --- writing ------------------------------------------------------------------------------


def _subscriber(page: Page, row: Row, pk: str, confirmed: bool, now: datetime) -> Subscriber:
    """Webhooks are active at once; e-mail addresses unless the operator vouches for them."""
    return Subscriber(
        id=pk,
        page=page,
        kind=row.kind,
        email=row.email,
        endpoint=row.endpoint,
        created_at=now,
        confirmed_at=now if confirmed or row.kind == WEBHOOK else None,
    )


def _write_chunk(page: Page, rows: list[Row], confirmed: bool) -> int:
    """Write one chunk in one transaction; returns how many confirmations it queued."""
    now = timezone.now()
    ids = new_ids(len(rows))
    subscribers = [
        _subscriber(page, r, pk, confirmed, now) for r, pk in zip(rows, ids, strict=True)
    ]
    links = [
        Link(subscriber_id=subscriber.pk, component_id=component)
        for subscriber, row in zip(subscribers, rows, strict=True)
        for component in row.components
    ]
    pending = [subscriber for subscriber in subscribers if subscriber.confirmed_at is None]
    confirmations = [outbox.confirmation(subscriber) for subscriber in pending]
    with transaction.atomic():
        Subscriber.objects.bulk_create(subscribers)
        Link.objects.bulk_create(links)
        Notification.objects.bulk_create(confirmations)
    return len(confirmations)


def write(page: Page, rows: list[Row], *, confirmed: bool, progress: Progress) -> int:
    """Write the rows chunk by chunk; returns how many confirmation e-mails were queued."""
    progress.start("importing", len(rows))
    queued = 0
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        queued += _write_chunk(page, chunk, confirmed)
        progress.advance(len(chunk))
    return queued


def _record(page: Page, result: Result, *, confirmed: bool, actor: str) -> None:
    counts = {
        "file": result.file,
        "confirmed": confirmed,
        "imported": result.imported,
        "emails": result.emails,
        "webhooks": result.webhooks,
        "already_subscribed": result.already_subscribed,
        "unsubscribed_earlier": result.unsubscribed_earlier,
        "repeated_in_file": result.repeated,
        "invalid": len(result.errors),
    }
    with transaction.atomic():
        trail.record(
            actor=actor, action="subscriber.import", target=page, page_id=page.pk, after=counts
        )


# --- the whole import ---------------------------------------------------------------------


def import_subscribers(
    *,
    page: Page,
    path: Path,
    confirmed: bool = False,
    skip_invalid: bool = False,
    dry_run: bool = False,
    actor: str = "cli",
    progress: Progress | None = None,
) -> Result:
    """Check the file, then add everyone new to ``page``.

    ``confirmed``: the operator vouches these e-mail addresses opted in elsewhere, so no
    confirmation e-mail is sent; otherwise each new address gets one (double opt-in).
    Raises InvalidRows (nothing written) when a row is bad, unless ``skip_invalid``.
    """
    progress = progress or Quiet()
    if not page.allow_subscribers:
        raise InputError(f"page {page.name!r} does not accept subscribers")
    table = read_table(path)
    rows, errors = check_rows(page, table, progress)
    if errors and not skip_invalid:
        count = f"{len(errors):,} invalid row{'s' if len(errors) != 1 else ''}"
        raise InvalidRows(f"{count} in {table.name}; nothing was imported", errors)
    result = Result(file=table.name, ignored_columns=table.ignored, errors=errors)
    new = sort_out(page, rows, result)
    if dry_run:
        result.confirmations = 0 if confirmed else result.emails
        return result
    result.confirmations = write(page, new, confirmed=confirmed, progress=progress)
    _record(page, result, confirmed=confirmed, actor=actor)
    return result
