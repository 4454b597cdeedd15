from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog.services import find_component, find_page
from heliograph.incidents import changes
from heliograph.incidents.models import CHANGE_SOURCES
from heliograph.lib.command import HeliographCommand
from heliograph.lib.timefmt import parse_time


class Command(HeliographCommand):
    help = "Record deploys and config changes, so incidents can be tied to them."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        record = actions.add_parser("record", help="record a change")
        record.add_argument("title")
        record.add_argument("--page", required=True, help="page id or name")
        record.add_argument("--component", action="append", help="component id or name")
        record.add_argument("--source", default="deploy", help=" | ".join(CHANGE_SOURCES))
        record.add_argument("--link", default="", help="URL of the deploy, PR or ticket")
        record.add_argument("--at", help="when it happened (ISO 8601, UTC if no offset)")
        self.add_json_flag(record)

    def handle(self, *args: Any, **options: Any) -> None:
        page = find_page(options["page"])
        components = [find_component(page, ref) for ref in options["component"] or []]
        change = changes.record_change(
            page=page,
            title=options["title"],
            components=components,
            at=parse_time(options["at"]) if options["at"] else None,
            source=options["source"],
            link=options["link"],
        )
        data = {
            "id": change.pk,
            "title": change.title,
            "at": change.at.isoformat(),
            "source": change.source,
            "link": change.link,
            "components": [c.pk for c in components],
        }
        self.emit(options, data, f"recorded {change.source} {change.pk}: {change.title}")
