from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog.services import find_component, find_page
from heliograph.incidents import services
from heliograph.incidents.management.commands.incident import describe
from heliograph.lib.command import HeliographCommand
from heliograph.lib.timefmt import parse_time


class Command(HeliographCommand):
    help = "Schedule maintenance windows."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        schedule = actions.add_parser("schedule", help="schedule a maintenance")
        schedule.add_argument("name")
        schedule.add_argument("--page", required=True, help="page id or name")
        schedule.add_argument("--start", required=True, help="ISO 8601, UTC if no offset")
        schedule.add_argument("--end", required=True, help="ISO 8601, UTC if no offset")
        schedule.add_argument("--body", default="", help="what will happen (markdown)")
        schedule.add_argument("--component", action="append", help="component id or name")
        self.add_json_flag(schedule)

    def handle(self, *args: Any, **options: Any) -> None:
        page = find_page(options["page"])
        components = [find_component(page, ref) for ref in options["component"] or []]
        maintenance = services.schedule_maintenance(
            page=page, name=options["name"], body=options["body"],
            scheduled_for=parse_time(options["start"]),
            scheduled_until=parse_time(options["end"]), components=components,
        )  # fmt: skip
        self.emit(options, describe(maintenance), f"scheduled {maintenance.pk}")
