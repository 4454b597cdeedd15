from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog.services import find_page
from heliograph.incidents import services
from heliograph.incidents.management.commands.incident import describe, read_body
from heliograph.lib.command import HeliographCommand
from heliograph.lib.timefmt import parse_time


class Command(HeliographCommand):
    help = "Publish an incident's postmortem."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        publish = actions.add_parser("publish", help="publish a postmortem")
        publish.add_argument("incident", help="incident id or reference")
        publish.add_argument("--page", required=True, help="page id or name")
        publish.add_argument("--body", help="postmortem text (markdown)")
        publish.add_argument("--body-file", type=Path, help="read the text from a file")
        publish.add_argument("--at", help="publication time (ISO 8601); default now")
        self.add_json_flag(publish)

    def handle(self, *args: Any, **options: Any) -> None:
        page = find_page(options["page"])
        incident = services.find_incident(page, options["incident"])
        at = parse_time(options["at"]) if options["at"] else None
        services.publish_postmortem(incident=incident, body=read_body(options), at=at)
        incident.refresh_from_db()
        self.emit(options, describe(incident), f"published the postmortem of {incident.pk}")
