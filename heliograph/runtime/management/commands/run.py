from typing import Any

from django.core.management.base import CommandParser

from heliograph.cli import DEFAULT_HOST, DEFAULT_PORT
from heliograph.lib.command import HeliographCommand
from heliograph.runtime.serve import serve


def add_serve_arguments(parser: CommandParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument("--workers", type=int, default=1, help="web worker processes")


class Command(HeliographCommand):
    help = "Migrate the database, publish, and serve the status page (Ctrl-C stops)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_serve_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        serve(host=options["host"], port=options["port"], workers=options["workers"])
