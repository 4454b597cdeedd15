from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog.models import Component, Page
from heliograph.catalog.services import find_component, find_page
from heliograph.catalog.status import OPERATIONAL
from heliograph.incidents import services
from heliograph.incidents.models import Incident
from heliograph.lib.command import HeliographCommand, parse_assignments
from heliograph.lib.errors import InputError
from heliograph.lib.timefmt import parse_time

RESOLVED_TEXT = "This incident has been resolved."


def add_update_arguments(parser: CommandParser) -> None:
    parser.add_argument("--page", required=True, help="page id or name")
    parser.add_argument("--body", help="update text (markdown)")
    parser.add_argument("--body-file", type=Path, help="read the update text from a file")
    parser.add_argument(
        "--component",
        action="append",
        metavar="NAME=STATUS",
        help="set a component's status with this update (repeatable)",
    )
    parser.add_argument("--at", help="display time (ISO 8601, UTC if no offset); default now")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def read_body(options: dict[str, Any], default: str | None = None) -> str:
    if options.get("body_file"):
        try:
            return Path(options["body_file"]).read_text()
        except OSError as exc:
            raise InputError(f"cannot read {options['body_file']}: {exc.strerror}") from None
    if options.get("body") is None:
        if default is not None:
            return default
        raise InputError("give the text with --body or --body-file")
    return str(options["body"])


def describe(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "name": incident.name,
        "status": incident.status,
        "impact": incident.impact,
        "reference": incident.reference,
        "shortlink": incident.shortlink,
    }


class Command(HeliographCommand):
    help = "Open incidents, post updates, resolve and reopen them."

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
        resolve = actions.add_parser(
            "resolve", help="resolve an incident (its impaired components become operational)"
        )
        resolve.add_argument("incident", help="incident id or reference")
        add_update_arguments(resolve)
        reopen = actions.add_parser("reopen", help="reopen a resolved incident (a recurrence)")
        reopen.add_argument("incident", help="incident id or reference")
        reopen.add_argument("--status", default="investigating")
        add_update_arguments(reopen)

    def handle(self, *args: Any, **options: Any) -> None:
        page = find_page(options["page"])
        components = {
            find_component(page, name): status
            for name, status in parse_assignments(options["component"])
        }
        at = parse_time(options["at"]) if options["at"] else None
        if options["action"] == "open":
            incident, warnings = self.open(page, components, at, options), []
        else:
            incident = services.find_incident(page, options["incident"])
            warnings = self.post(incident, components, at, options)
            incident.refresh_from_db()
        for warning in warnings:
            self.stderr.write(f"Warning: {warning}")
        data = {**describe(incident), "warnings": warnings}
        self.emit(options, data, f"{incident.pk} {incident.status}: {incident.name}")

    def open(
        self,
        page: Page,
        components: dict[Component, str],
        at: datetime | None,
        options: dict[str, Any],
    ) -> Incident:
        started = options["started_at"]
        return services.open_incident(
            page=page,
            name=options["name"],
            body=read_body(options),
            status=options["status"],
            components=components,
            at=at,
            reference=options["reference"],
            started_at=parse_time(started) if started else None,
            backfilled=options["backfilled"],
        )

    def post(
        self,
        incident: Incident,
        components: dict[Component, str],
        at: datetime | None,
        options: dict[str, Any],
    ) -> list[str]:
        """Post the update; returns the truth-check warnings about its text."""
        action = options["action"]
        if action == "resolve":
            status, body = "resolved", read_body(options, RESOLVED_TEXT)
            for component in incident.components.all():
                if component not in components and component.status != OPERATIONAL:
                    components[component] = OPERATIONAL
        else:
            status, body = options["status"], read_body(options)
        warnings = services.check_update_text(
            incident=incident, body=body, status=status, at=at, components=components
        )
        post = services.reopen_incident if action == "reopen" else services.post_update
        post(incident=incident, status=status, body=body, components=components, at=at)
        return warnings
