from argparse import BooleanOptionalAction
from typing import Any

from django.core.management.base import CommandParser

from heliograph.catalog import services
from heliograph.lib.command import HeliographCommand

EMBEDDABLE = "let other sites show the public page in a frame (default: no)"


class Command(HeliographCommand):
    help = "Create, change or list status pages."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a page")
        create.add_argument("name")
        create.add_argument("--time-zone", default="UTC", help="IANA zone, e.g. America/New_York")
        create.add_argument("--url", default="", help="your company's site")
        create.add_argument("--domain", default="", help="host name this page answers on")
        create.add_argument("--embeddable", action="store_true", help=EMBEDDABLE)
        self.add_json_flag(create)
        update = actions.add_parser("update", help="change a page's settings")
        update.add_argument("name", help="page id or name")
        update.add_argument("--embeddable", action=BooleanOptionalAction, help=EMBEDDABLE)
        self.add_json_flag(update)
        actions.add_parser("list", help="list pages")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for page in services.Page.objects.order_by("created_at"):
                embeddable = ", embeddable" if page.embeddable else ""
                self.stdout.write(f"{page.pk}  {page.name}  ({page.time_zone}{embeddable})")
            return
        if options["action"] == "update":
            page = services.update_page(
                page=services.find_page(options["name"]), embeddable=options["embeddable"]
            )
            verb = "updated"
        else:
            page = services.create_page(
                name=options["name"],
                time_zone=options["time_zone"],
                url=options["url"],
                domain=options["domain"],
                embeddable=options["embeddable"],
            )
            verb = "created"
        data = {"id": page.pk, "name": page.name, "embeddable": page.embeddable}
        framed = "may" if page.embeddable else "may not"
        self.emit(options, data, f"{verb} page {page.pk}: other sites {framed} frame it")
