"""``heliograph worker``: runs maintenance windows on time, until SIGINT/SIGTERM."""

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

log = logging.getLogger("heliograph.worker")


def _default_interval() -> float:
    try:
        return float(os.environ.get("HELIOGRAPH_WORKER_INTERVAL", "2"))
    except ValueError:
        return 2.0


def work(stop: threading.Event, interval: float) -> None:
    """Run due maintenance steps every ``interval`` seconds until ``stop``."""
    run_until_stopped(stop, interval, _pass, name="worker")


def _pass() -> int:
    if done := run_due():
        log.info("worker: %d maintenance step(s) done", done)
    return done


class Command(HeliographCommand):
    help = "Run due maintenance transitions and reminders every few seconds (Ctrl-C stops)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float,
            default=_default_interval(),
            help="seconds between passes (default 2, or $HELIOGRAPH_WORKER_INTERVAL)",
        )  # fmt: skip
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            self.stdout.write(f"{run_due()} maintenance step(s) done")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        work(stop, max(options["interval"], 0.1))
