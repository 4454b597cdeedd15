from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog.services import find_component, find_page
from heliograph.incidents import services
from heliograph.incidents.models import Incident
from heliograph.lib.command import HeliographCommand, parse_assignments
from heliograph.lib.errors import InputError
from heliograph.lib.timefmt import parse_time


def add_update_arguments(parser: CommandParser) -> None:
    parser.add_argument("--page", required=True, help="page id or name")
    parser.add_argument("--body", help="update text (markdown)")
    parser.add_argument("--body-file", type=Path, help="read the update text from a file")
    parser.add_argument(
        "--component", action="append", metavar="NAME=STATUS",
        help="set a component's status with this update (repeatable)",
    )  # fmt: skip
    parser.add_argument("--at", help="display time (ISO 8601, UTC if no offset); default now")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def read_body(options: dict[str, Any]) -> str:
    if options.get("body_file"):
        try:
            return Path(options["body_file"]).read_text()
        except OSError as exc:
            raise InputError(f"cannot read {options['body_file']}: {exc.strerror}") from None
    if options.get("body") is None:
        raise InputError("give the text with --body or --body-file")
    return str(options["body"])


def describe(incident: Incident) -> dict[str, Any]:
    return {"id": incident.pk, "name": incident.name, "status": incident.status,
            "impact": incident.impact, "reference": incident.reference,
            "shortlink": incident.shortlink}  # fmt: skip


class Command(HeliographCommand):
    help = "Open incidents and post updates to them."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        opener = actions.add_parser("open", help="open an incident")
        opener.add_argument("name")
        opener.add_argument("--status", default="investigating")
        opener.add_argument("--reference", default="", help="internal number, e.g. PR-2142")
        opener.add_argument("--started-at", help="when impact began, if before the first update")
        opener.add_argument("--backfilled", action="store_true", help="recorded after the fact")
        add_update_arguments(opener)
        update = actions.add_parser("update", help="post an update to an incident")
        update.add_argument("incident", help="incident id or reference")
        update.add_argument("--status", required=True)
        add_update_arguments(update)

    def handle(self, *args: Any, **options: Any) -> None:
        page = find_page(options["page"])
        components = {
            find_component(page, name): status
            for name, status in parse_assignments(options["component"])
        }
        at = parse_time(options["at"]) if options["at"] else None
        body = read_body(options)
        if options["action"] == "open":
            started = options["started_at"]
            incident = services.open_incident(
                page=page, name=options["name"], body=body, status=options["status"],
                components=components, at=at, reference=options["reference"],
                started_at=parse_time(started) if started else None,
                backfilled=options["backfilled"],
            )  # fmt: skip
        else:
            incident = services.find_incident(page, options["incident"])
            services.post_update(
                incident=incident, status=options["status"], body=body,
                components=components, at=at,
            )  # fmt: skip
            incident.refresh_from_db()
        self.emit(options, describe(incident), f"{incident.pk} {incident.status}: {incident.name}")
