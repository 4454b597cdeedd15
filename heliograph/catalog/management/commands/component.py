from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog import services
from heliograph.lib.command import HeliographCommand
from heliograph.lib.timefmt import parse_time


class Command(HeliographCommand):
    help = "Create components and set their status."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a component")
        create.add_argument("name")
        create.add_argument("--page", required=True, help="page id or name")
        create.add_argument("--group", help="group id or name")
        create.add_argument("--description", default="")
        self.add_json_flag(create)
        status = actions.add_parser("set", help="set a component's status")
        status.add_argument("name", help="component id or name")
        status.add_argument("status", help="operational, degraded_performance, ...")
        status.add_argument("--page", required=True, help="page id or name")
        status.add_argument("--at", help="when (ISO 8601, UTC if no offset); default now")
        self.add_json_flag(status)

    def handle(self, *args: Any, **options: Any) -> None:
        page = services.find_page(options["page"])
        if options["action"] == "set":
            component = services.find_component(page, options["name"])
            at = parse_time(options["at"]) if options["at"] else None
            services.set_component_status(component=component, status=options["status"], at=at)
            component.refresh_from_db()
            data = {"id": component.pk, "name": component.name, "status": component.status}
            self.emit(options, data, f"{component.name} is {component.status}")
            return
        group = services.find_group(page, options["group"]) if options["group"] else None
        component = services.create_component(
            page=page, name=options["name"], group=group, description=options["description"]
        )
        data = {"id": component.pk, "name": component.name}
        self.emit(options, data, f"created component {component.pk}")
