from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog import services
from heliograph.lib.command import HeliographCommand


class Command(HeliographCommand):
    help = "Create component groups."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a component group")
        create.add_argument("name")
        create.add_argument("--page", required=True, help="page id or name")
        create.add_argument("--description", default="")
        self.add_json_flag(create)

    def handle(self, *args: Any, **options: Any) -> None:
        page = services.find_page(options["page"])
        group = services.create_group(
            page=page, name=options["name"], description=options["description"]
        )
        self.emit(options, {"id": group.pk, "name": group.name}, f"created group {group.pk}")
