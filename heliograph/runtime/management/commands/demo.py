from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from heliograph.example import load_example
from heliograph.lib.command import HeliographCommand
from heliograph.runtime.management.commands.run import add_serve_arguments
from heliograph.runtime.serve import prepare, serve


class Command(HeliographCommand):
    help = "Like run, with the OpenSRS example (incident PR-2142) loaded."

    def add_arguments(self, parser: CommandParser) -> None:
        add_serve_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        prepare()
        incident = load_example().incidents.get(reference="PR-2142")
        serve(
            host=options["host"],
            port=options["port"],
            workers=options["workers"],
            announce=f"\nThe example incident PR-2142: {settings.BASE_URL}/incidents/{incident.pk}",
        )
