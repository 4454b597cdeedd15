from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog.services import find_component, find_page
from heliograph.incidents import services
from heliograph.incidents.management.commands.incident import describe
from heliograph.incidents.models import Incident
from heliograph.lib.command import HeliographCommand
from heliograph.lib.timefmt import parse_time


def describe_window(maintenance: Incident) -> dict[str, Any]:
    return {
        **describe(maintenance),
        "scheduled_for": maintenance.scheduled_for.isoformat()
        if maintenance.scheduled_for
        else None,
        "scheduled_until": (
            maintenance.scheduled_until.isoformat() if maintenance.scheduled_until else None
        ),
        "remind_prior": maintenance.scheduled_remind_prior,
        "auto_in_progress": maintenance.scheduled_auto_in_progress,
        "auto_completed": maintenance.scheduled_auto_completed,
    }


class Command(HeliographCommand):
    help = "Schedule and reschedule maintenance windows."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        schedule = actions.add_parser("schedule", help="schedule a maintenance")
        schedule.add_argument("name")
        schedule.add_argument("--page", required=True, help="page id or name")
        schedule.add_argument("--start", required=True, help="ISO 8601, UTC if no offset")
        schedule.add_argument("--end", required=True, help="ISO 8601, UTC if no offset")
        schedule.add_argument("--body", default="", help="what will happen (markdown)")
        schedule.add_argument("--component", action="append", help="component id or name")
        schedule.add_argument(
            "--remind-prior", action="store_true", help="remind subscribers an hour before"
        )
        schedule.add_argument(
            "--no-auto-start",
            action="store_true",
            help="do not start it at its start time (start it by hand)",
        )
        schedule.add_argument(
            "--no-auto-complete",
            action="store_true",
            help="do not complete it at its end time (complete it by hand)",
        )
        self.add_json_flag(schedule)
        reschedule = actions.add_parser(
            "reschedule", help="move a maintenance that has not started"
        )
        reschedule.add_argument("maintenance", help="maintenance id or reference")
        reschedule.add_argument("--page", required=True, help="page id or name")
        reschedule.add_argument("--start", help="new start, ISO 8601, UTC if no offset")
        reschedule.add_argument("--end", help="new end, ISO 8601, UTC if no offset")
        self.add_json_flag(reschedule)

    def handle(self, *args: Any, **options: Any) -> None:
        page = find_page(options["page"])
        if options["action"] == "reschedule":
            found = services.find_incident(page, options["maintenance"])
            moved = services.reschedule_maintenance(
                maintenance=found,
                scheduled_for=parse_time(options["start"]) if options["start"] else None,
                scheduled_until=parse_time(options["end"]) if options["end"] else None,
            )
            self.emit(options, describe_window(moved), f"rescheduled {moved.pk}")
            return
        components = [find_component(page, ref) for ref in options["component"] or []]
        maintenance = services.schedule_maintenance(
            page=page,
            name=options["name"],
            body=options["body"],
            scheduled_for=parse_time(options["start"]),
            scheduled_until=parse_time(options["end"]),
            components=components,
            remind_prior=options["remind_prior"],
            auto_in_progress=not options["no_auto_start"],
            auto_completed=not options["no_auto_complete"],
        )
        self.emit(options, describe_window(maintenance), f"scheduled {maintenance.pk}")
