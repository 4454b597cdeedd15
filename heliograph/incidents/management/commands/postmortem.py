from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog.services import find_page
from heliograph.incidents import postmortems, services
from heliograph.incidents.management.commands.incident import describe, read_body
from heliograph.lib.command import HeliographCommand
from heliograph.lib.timefmt import parse_time


def _common(parser: CommandParser, body: bool = True) -> None:
    parser.add_argument("incident", help="incident id or reference")
    parser.add_argument("--page", required=True, help="page id or name")
    if body:
        parser.add_argument("--body", help="postmortem text (markdown)")
        parser.add_argument("--body-file", type=Path, help="read the text from a file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


class Command(HeliographCommand):
    help = "Draft, publish and revert an incident's postmortem."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        draft = actions.add_parser(
            "draft", help="save a draft (without --body: print the pre-filled text)"
        )
        _common(draft)
        publish = actions.add_parser("publish", help="publish the text, or the saved draft")
        _common(publish)
        publish.add_argument("--at", help="publication time (ISO 8601); default now")
        publish.add_argument("--notify", action="store_true", help="notify subscribers")
        revert = actions.add_parser("revert", help="unpublish: back to a draft")
        _common(revert, body=False)

    def handle(self, *args: Any, **options: Any) -> None:
        page = find_page(options["page"])
        incident = services.find_incident(page, options["incident"])
        action = options["action"]
        given = options.get("body") is not None or options.get("body_file")
        if action == "draft" and not given:
            text = postmortems.prefill_postmortem(incident=incident)
            self.emit(options, {**describe(incident), "body_draft": text}, text)
            return
        if action == "draft":
            postmortems.save_postmortem_draft(incident=incident, body=read_body(options))
            message = f"saved the postmortem draft of {incident.pk}"
        elif action == "publish":
            at = parse_time(options["at"]) if options["at"] else None
            postmortems.publish_postmortem(
                incident=incident,
                body=read_body(options) if given else None,
                at=at,
                notify_subscribers=options["notify"],
            )
            message = f"published the postmortem of {incident.pk}"
        else:
            postmortems.revert_postmortem(incident=incident)
            message = f"reverted the postmortem of {incident.pk} to a draft"
        incident.refresh_from_db()
        self.emit(options, describe(incident), message)
