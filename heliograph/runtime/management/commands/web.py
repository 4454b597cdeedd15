from typing import Any

from django.core.management.base import CommandParser

from heliograph.lib.command import HeliographCommand
from heliograph.runtime.management.commands.run import add_serve_arguments
from heliograph.runtime.serve import serve_web


class Command(HeliographCommand):
    help = "Serve the status page and the console only (run starts this with the others)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_serve_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        serve_web(host=options["host"], port=options["port"], workers=options["workers"])
