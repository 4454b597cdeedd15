from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog import services
from heliograph.lib.command import HeliographCommand


class Command(HeliographCommand):
    help = "Create or list status pages."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a page")
        create.add_argument("name")
        create.add_argument("--time-zone", default="UTC", help="IANA zone, e.g. America/New_York")
        create.add_argument("--url", default="", help="your company's site")
        create.add_argument("--domain", default="", help="host name this page answers on")
        self.add_json_flag(create)
        actions.add_parser("list", help="list pages")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for page in services.Page.objects.order_by("created_at"):
                self.stdout.write(f"{page.pk}  {page.name}  ({page.time_zone})")
            return
        page = services.create_page(
            name=options["name"], time_zone=options["time_zone"], url=options["url"],
            domain=options["domain"],
        )  # fmt: skip
        self.emit(options, {"id": page.pk, "name": page.name}, f"created page {page.pk}")
