"""The outbox: Notification rows become Delivery rows, which workers lease, send and record.

Nothing is lost: a Notification is written in the same transaction as the change it
announces; expansion is idempotent (one Delivery per notification and subscriber, enforced
by a unique constraint); a claimed delivery carries a lease, so when its worker dies the
row becomes claimable again once the lease runs out. Only deliveries in flight at a crash
can go out twice, and each carries its delivery id so receivers can drop the repeat.
"""

from __future__ import annotations

import functools
import json
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from heliograph.catalog.models import Component, Page
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from heliograph.notify import payloads, rules
from heliograph.notify.models import (
    COMPONENT_UPDATE,
    CONFIRMATION,
    DELIVERY_STATUSES,
    EMAIL,
    FAILED,
    NOTIFICATION_KINDS,
    PENDING,
    QUARANTINE,
    SENT,
    SKIPPED,
    TARGETED_KINDS,
    WEBHOOK,
    WEBHOOK_WELCOME,
    Delivery,
    DeliveryAttempt,
    Notification,
    Subscriber,
)
from heliograph.notify.rows import Columns, loaded

T = TypeVar("T")

# A pass claims and builds batches on one thread while its connections send on another.
# A thread waiting for the GIL gets it only after the switch interval (5 ms), and the
# sending loop gives it up at every socket call: a batch built in one go (20-50 ms of
# Python) stalls every connection at once and leaves the relay idle. So the per-row work
# runs in short stretches, with a pause after each in which the loop has the GIL.
PACE_EVERY, PACE_PAUSE = 10, 0.0005  # rows, seconds


def paced(items: Iterable[T]) -> Iterator[T]:
    """``items``, pausing after every PACE_EVERY of them (see above)."""
    for n, item in enumerate(items, 1):
        yield item
        if n % PACE_EVERY == 0:
            time.sleep(PACE_PAUSE)


# --- writing notifications ----------------------------------------------------------------


def enqueue(
    *,
    page: Page,
    kind: str,
    incident: Incident | None = None,
    component: Component | None = None,
    payload: dict[str, Any],
    subscriber: Subscriber | None = None,
) -> Notification:
    """Write a Notification; call inside the transaction that makes the change."""
    if kind not in dict(NOTIFICATION_KINDS):
        raise InputError(f"unknown notification kind {kind!r}")
    if (kind in TARGETED_KINDS) != (subscriber is not None):
        raise InputError(f"a {kind} notification needs exactly the subscriber it is for")
    if incident is not None:
        touched = list(incident.components.values_list("pk", flat=True))
    else:
        touched = [component.pk] if component is not None else []
    return Notification.objects.create(
        page=page,
        kind=kind,
        incident=incident,
        component=component,
        component_ids=touched,
        payload_text=json.dumps(payload, ensure_ascii=False),
        subscriber=subscriber,
    )


def confirmation(subscriber: Subscriber) -> Notification:
    """The double opt-in e-mail, unsaved (bulk imports write many in one INSERT)."""
    payload = {"confirm_url": payloads.confirm_url(subscriber.unsubscribe_token)}
    return Notification(
        page_id=subscriber.page_id,
        kind=CONFIRMATION,
        subscriber=subscriber,
        payload_text=json.dumps(payload, ensure_ascii=False),
    )


def request_confirmation(*, subscriber: Subscriber) -> Notification:
    """Queue the opt-in e-mail: the subscriber is told nothing else until they confirm."""
    notification = confirmation(subscriber)
    notification.save()
    return notification


def welcome_webhook(*, subscriber: Subscriber) -> Notification:
    """Tell a webhook's contact it is registered, with the secret that signs its requests.

    The secret is read when the e-mail is rendered, not stored in the payload, so a
    rotated secret is never e-mailed stale.
    """
    payload = {
        "endpoint": subscriber.endpoint,
        "manage_url": payloads.manage_url(subscriber.unsubscribe_token),
    }
    return enqueue(
        page=subscriber.page, kind=WEBHOOK_WELCOME, payload=payload, subscriber=subscriber
    )


# --- expansion ----------------------------------------------------------------------------


def audience(notification: Notification) -> QuerySet[Subscriber]:
    """Every subscriber this notification is for (architecture: Notifications, Statuspage's
    rules)."""
    if notification.subscriber_id:
        return Subscriber.objects.filter(pk=notification.subscriber_id)
    subscribers = Subscriber.objects.filter(
        page_id=notification.page_id,
        confirmed_at__isnull=False,
        quarantined_at__isnull=True,
        unsubscribed_at__isnull=True,
    )
    page_wide = Q(incident__isnull=True)
    if notification.component_ids:
        # An incident that names no components reaches every page-wide subscriber, as on
        # Statuspage; one that does reaches those who chose none or one of them.
        chosen = Subscriber.components.through.objects.filter(subscriber_id=OuterRef("pk"))
        touches = chosen.filter(component_id__in=notification.component_ids)
        page_wide &= ~Exists(chosen) | Exists(touches)
    if notification.kind == COMPONENT_UPDATE:
        return subscribers.filter(page_wide, kind=WEBHOOK)  # Statuspage: webhooks only
    if notification.incident_id:
        return subscribers.filter(page_wide | Q(incident_id=notification.incident_id))
    return subscribers.filter(page_wide)


ANALYZE_AFTER = 10_000  # a notification's deliveries (PostgreSQL: see _expand_one)


def expand(*, now: datetime | None = None, batch: int = 5000, runs: int | None = None) -> int:
    """One Delivery per matching subscriber for every unexpanded notification.

    Safe to repeat or to run from several workers: rows that exist are left alone.
    ``runs``: at most that many runs of ``batch`` subscribers per notification and call,
    so that a worker sends the first deliveries while the next calls add the rest (each
    carries on after the last subscriber its notification has a delivery for). Returns
    how many notifications it worked on.
    """
    now = now or timezone.now()
    todo = list(Notification.objects.filter(expanded_at__isnull=True).order_by("created_at"))
    for notification in todo:
        _expand_one(notification, now, batch, runs)
    return len(todo)


def _expand_one(notification: Notification, now: datetime, batch: int, runs: int | None) -> None:
    subscribers = audience(notification).order_by("pk")
    mine = Delivery.objects.filter(notification_id=notification.pk)
    last = mine.aggregate(last=Max("subscriber_id"))["last"] or ""  # where a call stopped
    added, done = 0, False
    while not done and (runs is None or runs > 0):
        # In runs of ``batch`` subscribers: short transactions (SQLite writers wait).
        bound = list(subscribers.filter(pk__gt=last).values_list("pk", flat=True)[batch - 1 :][:1])
        run = subscribers.filter(pk__gt=last, **({"pk__lte": bound[0]} if bound else {}))
        with transaction.atomic():
            added += _insert_deliveries(notification.pk, run, now)
        done, last = not bound, bound[0] if bound else last
        runs = None if runs is None else runs - 1
    if done:
        Notification.objects.filter(pk=notification.pk).update(expanded_at=now)
    if added and connection.vendor == "postgresql":
        total = mine.count()
        if total - added < ANALYZE_AFTER <= total:
            # Fresh statistics, so that claiming walks the due index from the start
            # instead of sorting every due row for each batch (autovacuum would notice
            # only later).
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(Delivery._meta.db_table)}")


def _insert_deliveries(
    notification_id: str, subscribers: QuerySet[Subscriber], now: datetime
) -> int:
    """``INSERT ... SELECT``: one Delivery per subscriber, made by the database itself (no
    row travels to Python and back), leaving alone those that exist; returns how many."""
    given = {"notification": notification_id, "next_attempt_at": now}
    fields = [f for f in Delivery._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    chosen, params = [], []
    for f in fields:
        if f.name == "subscriber":
            chosen.append("s.subscriber")
            continue
        chosen.append("%s")
        value = given[f.name] if f.name in given else f.get_default()
        params.append(f.get_db_prep_save(value, connection))
    ids = subscribers.order_by().annotate(subscriber=F("pk")).values("subscriber")
    query, query_params = ids.query.sql_with_params()
    columns = ", ".join(quote(f.column) for f in fields)
    sql = (
        f"INSERT INTO {quote(Delivery._meta.db_table)} ({columns}) "
        f"SELECT {', '.join(chosen)} FROM ({query}) s WHERE true ON CONFLICT DO NOTHING"
    )  # "WHERE true": SQLite would read ON CONFLICT as a join constraint otherwise
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *query_params])
        return max(cursor.rowcount, 0)


# --- claiming -----------------------------------------------------------------------------


def claim(
    *,
    owner: str,
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
    notifications: dict[str, Notification] | None = None,
) -> list[Delivery]:
    """Lease up to ``limit`` due deliveries to ``owner``, each with its subscriber and
    notification (``notifications``: those known already, and where to keep new ones).

    PostgreSQL: one statement (``FOR UPDATE SKIP LOCKED``, so workers never take the same
    row; the update returns the rows joined to their subscribers). SQLite ignores row
    locks; there one process claims (and IMMEDIATE transactions serialise writers anyway).
    Plain SQL: ORM instances and their conversions cost more than sending the messages.
    """
    now = now or timezone.now()
    until = now + timedelta(seconds=lease_seconds)
    if connection.vendor == "postgresql":
        rows = _claim_returning(owner, limit, now, until)
    else:
        rows = _claim_then_read(owner, limit, now, until)
    rows.sort(key=lambda row: (row[4], row[0]))  # next_attempt_at, id: the due order
    known = {} if notifications is None else notifications
    missing = {row[1] for row in rows} - known.keys()
    known.update(Notification.objects.select_related("page").in_bulk(missing))
    db, claimed = connection.alias, []
    for pk, notification, subscriber, attempts, _, *reader in paced(rows):
        values = (pk, notification, subscriber, PENDING, attempts, until, owner)
        delivery = loaded(Delivery, db, zip(_LEASED, values, strict=True))
        cached = delivery._state.fields_cache  # what the relations' setters would keep
        cached["subscriber"], cached["notification"] = _READER.build(reader), known[notification]
        claimed.append(delivery)
    return claimed


# What a leased delivery is known by (the rest stays deferred); the statements return
# id, notification_id, subscriber_id, attempts, next_attempt_at.
_LEASED = [
    "id",
    "notification_id",
    "subscriber_id",
    "status",
    "attempts",
    "leased_until",
    "lease_owner",
]
_RETURNED = ["id", "notification_id", "subscriber_id", "attempts", "next_attempt_at"]


# What sending needs: the address or endpoint, the links' token, the secret that signs,
# whether they still want it. The rest stays deferred (read only if something asks).
_READER = Columns(
    Subscriber,
    [
        "id",
        "page_id",
        "kind",
        "email",
        "endpoint",
        "confirmed_at",
        "unsubscribed_at",
        "unsubscribe_token",
        "signing_secret",
        "quarantined_at",
    ],
)


def _due(table: str) -> str:
    """Due, not leased, in the due index's own order: its scan stops after the limit (with
    a tie breaker, PostgreSQL would sort every due row, 100,000 of them, for each batch)."""
    return (
        f"SELECT id FROM {table} WHERE status = %s AND next_attempt_at <= %s "
        "AND (leased_until IS NULL OR leased_until <= %s) ORDER BY next_attempt_at LIMIT %s"
    )


def _returned(alias: str) -> str:
    return ", ".join(f"{alias}.{connection.ops.quote_name(name)}" for name in _RETURNED)


def _claim_returning(owner: str, limit: int, now: datetime, until: datetime) -> list[Any]:
    adapt, quote = connection.ops.adapt_datetimefield_value, connection.ops.quote_name
    deliveries, subscribers = (quote(m._meta.db_table) for m in (Delivery, Subscriber))
    # "= ANY(ARRAY(...))": index lookups of the batch's rows; a join would have the
    # planner hash whole tables, 100,000 rows, for 500.
    sql = (
        f"WITH due AS ({_due(deliveries)} FOR UPDATE SKIP LOCKED), "
        f"d AS (UPDATE {deliveries} SET leased_until = %s, lease_owner = %s "
        f"WHERE id = ANY(ARRAY(SELECT id FROM due)) RETURNING {_returned(deliveries)}) "
        f"SELECT {_returned('d')}, {_READER.select('s')} "
        f"FROM d JOIN {subscribers} s ON s.id = d.subscriber_id "
        "WHERE s.id = ANY(ARRAY(SELECT subscriber_id FROM d))"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [PENDING, adapt(now), adapt(now), limit, adapt(until), owner])
        return list(cursor.fetchall())


def _claim_then_read(owner: str, limit: int, now: datetime, until: datetime) -> list[Any]:
    adapt, quote = connection.ops.adapt_datetimefield_value, connection.ops.quote_name
    deliveries, subscribers = (quote(m._meta.db_table) for m in (Delivery, Subscriber))
    due = [PENDING, adapt(now), adapt(now)]
    with connection.cursor() as cursor:
        cursor.execute(f"{_due(deliveries)}", [*due, 1])
        if cursor.fetchone() is None:  # an idle pass takes no write lock
            return []
        cursor.execute(
            f"UPDATE {deliveries} SET leased_until = %s, lease_owner = %s "
            f"WHERE id IN ({_due(deliveries)}) RETURNING {_returned(deliveries)}",
            [adapt(until), owner, *due, limit],
        )
        leased = list(cursor.fetchall())
        ids = {row[2] for row in leased}
        if not ids:
            return []
        cursor.execute(
            f"SELECT {_READER.select('s')} FROM {subscribers} s "
            f"WHERE s.id IN ({', '.join(['%s'] * len(ids))})",
            list(ids),
        )
        readers = {row[0]: row for row in cursor.fetchall()}
    return [(*row, *readers[row[2]]) for row in leased if row[2] in readers]


def channel_of(delivery: Delivery) -> str:
    """Confirmations and quarantine notices are e-mails, even to a webhook's contact."""
    if delivery.notification.kind in TARGETED_KINDS:
        return EMAIL
    return delivery.subscriber.kind


def still_wanted(delivery: Delivery) -> bool:
    """False when the subscriber left or was quarantined after expansion."""
    return delivery.notification.kind in TARGETED_KINDS or delivery.subscriber.active


# --- recording ----------------------------------------------------------------------------


def _ids(deliveries: Iterable[Delivery | int]) -> list[int]:
    return [d.pk if isinstance(d, Delivery) else d for d in deliveries]


def record_success(
    *, deliveries: Sequence[Delivery | int], now: datetime | None = None, owner: str = ""
) -> int:
    """Mark sent, and note each attempt in the history; returns how many rows changed
    (one sent already, by a worker whose lease had lapsed, stays as it is).

    Plain SQL whose text does not depend on the number of rows (the ids travel as one
    array, or JSON on SQLite), and on PostgreSQL one statement (one round trip, its own
    transaction): this runs every few messages, and building statements, adapting a
    parameter per row and round trips (each a wait for the GIL beside the sending
    thread) cost more than sending."""
    ids = _ids(deliveries)
    if not ids:
        return 0
    when = connection.ops.adapt_datetimefield_value(now or timezone.now())
    update, insert = _success_sql(connection.vendor)
    params = [SENT, when, PENDING]
    noted = [when, SENT, "", owner]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH done AS ({update} RETURNING 1), noted AS ({insert}) "
                "SELECT COUNT(*) FROM done",
                [*params, ids, *noted, ids],
            )
            return int(cursor.fetchone()[0])
        listed = json.dumps(ids)
        with transaction.atomic(savepoint=False):
            cursor.execute(update, [*params, listed])
            changed = max(cursor.rowcount, 0)
            cursor.execute(insert, [*noted, listed])
        return changed


@functools.cache
def _success_sql(vendor: str) -> tuple[str, str]:
    """record_success's UPDATE and INSERT, each taking the ids as its last parameter."""
    quote = connection.ops.quote_name
    deliveries, attempts = (quote(m._meta.db_table) for m in (Delivery, DeliveryAttempt))
    if vendor == "postgresql":
        chosen, each = "id = ANY(%s::bigint[])", "unnest(%s::bigint[])"
    else:
        chosen, each = "id IN (SELECT value FROM json_each(%s))", "value FROM json_each(%s)"
    update = (
        f"UPDATE {deliveries} SET status = %s, sent_at = %s, attempts = attempts + 1, "
        f"leased_until = NULL, last_error = '' WHERE status = %s AND {chosen}"
    )
    insert = (
        f"INSERT INTO {attempts} (at, outcome, error, worker, delivery_id) "
        f"SELECT %s, %s, %s, %s, {each}"
    )
    return update, insert


def _attempts_insert(
    ids: Sequence[int], when: Any, outcome: str, error: str, owner: str
) -> tuple[str, list[Any]]:
    """One INSERT for a history row per attempt (``when`` as the backend takes it)."""
    table = connection.ops.quote_name(DeliveryAttempt._meta.db_table)
    rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(ids))
    sql = f"INSERT INTO {table} (delivery_id, at, outcome, error, worker) VALUES {rows}"
    return sql, [value for pk in ids for value in (pk, when, outcome, error, owner)]


def release(*, deliveries: Sequence[Delivery | int], owner: str) -> int:
    """Give back claimed deliveries that were not sent: claimable again at once."""
    ids = _ids(deliveries)
    return Delivery.objects.filter(pk__in=ids, status=PENDING, lease_owner=owner).update(
        leased_until=None
    )


def record_skipped(*, deliveries: Sequence[Delivery | int], reason: str) -> int:
    return Delivery.objects.filter(pk__in=_ids(deliveries), status=PENDING).update(
        status=SKIPPED, leased_until=None, last_error=reason
    )


def record_failure(
    *,
    delivery: Delivery,
    error: str,
    now: datetime | None = None,
    rand: float | None = None,
    outcome: str = FAILED,
    owner: str = "",
) -> str:
    """Note the attempt, and schedule a retry with backoff or give up; returns the
    delivery's new status.

    Only a failure of the receiver's own (``outcome`` FAILED: its answer, its refusal, its
    timeout) counts towards a webhook's quarantine; OURS (the worker ran out of time, or
    could not build the message) never does. An ``owner`` that no longer holds the lease
    changes nothing but the history: the delivery is another worker's now.
    """
    now = now or timezone.now()
    attempts = delivery.attempts + 1
    final = rules.gives_up(attempts)
    delay = rules.retry_delay(attempts, random.random() if rand is None else rand)
    rows = Delivery.objects.filter(pk=delivery.pk, status=PENDING)
    with transaction.atomic(savepoint=False):
        rows.filter(**({"lease_owner": owner} if owner else {})).update(
            status=FAILED if final else PENDING,
            attempts=attempts,
            leased_until=None,
            next_attempt_at=now + timedelta(seconds=delay),
            last_error=error[:2000],
        )
        when = connection.ops.adapt_datetimefield_value(now)
        insert, noted = _attempts_insert([delivery.pk], when, outcome, error[:2000], owner)
        with connection.cursor() as cursor:
            cursor.execute(insert, noted)
        if outcome == FAILED and channel_of(delivery) == WEBHOOK:
            note_webhook_failure(subscriber_id=delivery.subscriber_id, now=now)
    return FAILED if final else PENDING


# --- quarantine ---------------------------------------------------------------------------


def note_webhook_failure(*, subscriber_id: str, now: datetime) -> bool:
    """Remember one failure; quarantine on the 10th within an hour. True if quarantined."""
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        seen = [datetime.fromisoformat(t) for t in subscriber.recent_failures]
        failures = rules.recent_failures([*seen, now], now)
        subscriber.recent_failures = [f.isoformat() for f in failures]
        subscriber.save(update_fields=["recent_failures"])
        if subscriber.quarantined_at or not rules.should_quarantine(failures, now):
            return False
        quarantine(subscriber=subscriber, now=now)
        return True


def quarantine(*, subscriber: Subscriber, now: datetime | None = None) -> None:
    """Stop sending to a webhook and tell its contact (if it has one) how to reactivate."""
    now = now or timezone.now()
    with transaction.atomic():
        subscriber.quarantined_at = now
        subscriber.save(update_fields=["quarantined_at"])
        record_skipped(
            deliveries=list(
                subscriber.deliveries.filter(status=PENDING)
                .exclude(notification__kind__in=TARGETED_KINDS)
                .values_list("pk", flat=True)
            ),
            reason="subscriber quarantined",
        )
        if subscriber.email:
            payload = {
                "endpoint": subscriber.endpoint,
                "quarantined_at": now.isoformat(),
                "manage_url": payloads.manage_url(subscriber.unsubscribe_token),
            }
            enqueue(page=subscriber.page, kind=QUARANTINE, payload=payload, subscriber=subscriber)


def reactivate(*, subscriber: Subscriber) -> None:
    """Lift a quarantine; failures counted so far are forgotten."""
    subscriber.quarantined_at = None
    subscriber.recent_failures = []
    subscriber.save(update_fields=["quarantined_at", "recent_failures"])


# --- counts for the console ---------------------------------------------------------------


def delivery_counts(notification_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{notification id: {"sent": n, "failed": n, "pending": n, "skipped": n}}``."""
    counts = {n: {status: 0 for status, _ in DELIVERY_STATUSES} for n in notification_ids}
    rows = (
        Delivery.objects.filter(notification_id__in=notification_ids)
        .values_list("notification_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for notification_id, status, n in rows:
        counts[notification_id][status] = n
    return counts


def counts(notification: Notification) -> dict[str, int]:
    return delivery_counts([notification.pk])[notification.pk]
