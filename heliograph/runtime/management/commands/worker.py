"""``heliograph worker``: maintenance on time, notifications delivered, monitors run.

Three loops in one process, sharing one stop event set by SIGINT/SIGTERM: maintenance
passes (and metric housekeeping every few minutes) in the main thread, the notification
outbox (``notify.worker.watch``) and the monitor scheduler (``monitors.scheduler``) in
threads of their own.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.utils import timezone

from heliograph.incidents.maintenance import run_due
from heliograph.lib.command import HeliographCommand
from heliograph.lib.loop import run_until_stopped, start_background_process
from heliograph.monitors import automation, metrics, scheduler
from heliograph.notify import worker as notify_worker

log = logging.getLogger("heliograph.worker")

# After a stop, how long the delivery thread may take to finish its batch; past that the
# process exits anyway and the batch's leases run out, so its rows are sent again later.
NOTIFY_GRACE = 8.0
HOUSEKEEPING_EVERY = 300.0  # seconds between metric downsampling passes


def _default_interval() -> float:
    return float(settings.HELIOGRAPH_WORKER_INTERVAL)


def work(stop: threading.Event, interval: float) -> None:
    """Run due maintenance steps every ``interval`` seconds, deliver notifications and run
    monitors beside them, until ``stop``."""
    owner = notify_worker.default_owner()
    threads = [
        threading.Thread(target=target, args=args, name=name, daemon=True)
        for name, target, args in (
            ("notify", notify_worker.watch, (stop, min(interval, 1.0), owner)),
            ("monitors", scheduler.watch, (stop, automation.apply, owner)),
        )
    ]
    for thread in threads:
        thread.start()
    housekeeping = Housekeeping()
    try:
        run_until_stopped(stop, interval, lambda: _pass() + housekeeping.run(), name="worker")
    finally:
        stop.set()  # the maintenance loop ended: the other loops end with it
        for thread in threads:
            thread.join(NOTIFY_GRACE)
            if thread.is_alive():
                log.warning(
                    "worker: %s still busy; its leases will bring the work back", thread.name
                )


def _pass() -> int:
    if done := run_due():
        log.info("worker: %d maintenance step(s) done", done)
    return done


class Housekeeping:
    """Metric downsampling and chart refreshes, every few minutes (not every pass)."""

    def __init__(self) -> None:
        self.due = 0.0

    def run(self) -> int:
        if time.monotonic() < self.due:
            return 0
        self.due = time.monotonic() + HOUSEKEEPING_EVERY
        report = metrics.housekeeping(timezone.now())
        log.debug("worker: metrics housekeeping %s", report)
        return 0


class Command(HeliographCommand):
    help = (
        "Run due maintenance transitions and reminders every few seconds, and deliver "
        "notifications (Ctrl-C stops)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=_default_interval(),
            help="seconds between passes (default 2, or $HELIOGRAPH_WORKER_INTERVAL)",
        )
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            owner = notify_worker.default_owner()
            done = run_due()
            sent = notify_worker.run_once(owner=owner)
            probed = scheduler.run_once(owner=owner, apply=automation.apply)
            self.stdout.write(
                f"{done} maintenance step(s) done, {sent} delivery(ies) handled, "
                f"{probed} monitor(s) run"
            )
            return
        start_background_process("worker")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        work(stop, max(options["interval"], 0.1))
