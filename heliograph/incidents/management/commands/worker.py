"""``heliograph worker``: runs maintenance windows on time and delivers notifications.

Two loops in one process, sharing one stop event set by SIGINT/SIGTERM: maintenance passes
in the main thread, the notification outbox (``notify.worker.watch``) in a second thread.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from django.core.management.base import CommandParser

from heliograph.incidents.maintenance import run_due
from heliograph.lib.command import HeliographCommand
from heliograph.lib.loop import run_until_stopped
from heliograph.notify import worker as notify_worker

log = logging.getLogger("heliograph.worker")

# After a stop, how long the delivery thread may take to finish its batch; past that the
# process exits anyway and the batch's leases run out, so its rows are sent again later.
NOTIFY_GRACE = 8.0


def _default_interval() -> float:
    try:
        return float(os.environ.get("HELIOGRAPH_WORKER_INTERVAL", "2"))
    except ValueError:
        return 2.0


def work(stop: threading.Event, interval: float) -> None:
    """Run due maintenance steps every ``interval`` seconds, and deliver notifications
    beside them, until ``stop``."""
    notify = threading.Thread(
        target=notify_worker.watch, args=(stop, min(interval, 1.0)), name="notify", daemon=True
    )
    notify.start()
    try:
        run_until_stopped(stop, interval, _pass, name="worker")
    finally:
        stop.set()  # the maintenance loop ended: the deliveries end with it
        notify.join(NOTIFY_GRACE)
        if notify.is_alive():
            log.warning("worker: deliveries still in flight; their leases will bring them back")


def _pass() -> int:
    if done := run_due():
        log.info("worker: %d maintenance step(s) done", done)
    return done


class Command(HeliographCommand):
    help = (
        "Run due maintenance transitions and reminders every few seconds, and deliver "
        "notifications (Ctrl-C stops)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float,
            default=_default_interval(),
            help="seconds between passes (default 2, or $HELIOGRAPH_WORKER_INTERVAL)",
        )  # fmt: skip
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            done = run_due()
            sent = notify_worker.run_once(owner=notify_worker.default_owner())
            self.stdout.write(f"{done} maintenance step(s) done, {sent} delivery(ies) handled")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        work(stop, max(options["interval"], 0.1))
