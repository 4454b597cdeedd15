import signal
import threading
from typing import Any

from django.core.management.base import CommandParser

from heliograph.lib.command import HeliographCommand
from heliograph.lib.loop import start_background_process
from heliograph.publish.publisher import mark_all_changed, publish_stale, watch


class Command(HeliographCommand):
    help = "Render and store the public artifacts of every page whose data changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--watch", action="store_true", help="keep publishing changes until stopped"
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="render every artifact of every page again, not only what changed",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["full"]:
            mark_all_changed()
        if not options["watch"]:
            self.stdout.write(f"published {publish_stale()} page(s)")
            return
        start_background_process("publisher")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        watch(stop)
