from typing import Any

from django.core.management.base import CommandParser
from django.db.models import Q

from heliograph.accounts.keys import create_key, revoke_key
from heliograph.accounts.models import ApiKey
from heliograph.catalog.services import find_page
from heliograph.lib.command import HeliographCommand
from heliograph.lib.errors import InputError


def when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def describe(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.pk,
        "name": key.name,
        "prefix": key.prefix,
        "scope": key.scope,
        "page": key.page_id,
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def find_key(ref: str) -> ApiKey:
    query = Q(prefix=ref) | Q(pk=int(ref)) if ref.isdigit() else Q(prefix=ref)
    found = list(ApiKey.objects.filter(query)[:2])
    if len(found) != 1:
        raise InputError(f"no single API key with prefix or id {ref!r}")
    return found[0]


class Command(HeliographCommand):
    help = "Create, list and revoke Manage API keys."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a key (printed once, on its own line)")
        create.add_argument("name")
        create.add_argument("--scope", choices=[ApiKey.READ, ApiKey.WRITE], default=ApiKey.WRITE)
        create.add_argument("--page", help="limit the key to one page (id or name)")
        listing = actions.add_parser("list", help="list keys (never the keys themselves)")
        self.add_json_flag(listing)
        revoke = actions.add_parser("revoke", help="revoke a key")
        revoke.add_argument("key", metavar="PREFIX_OR_ID")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, "handle_" + options["action"])(options)

    def handle_create(self, options: dict[str, Any]) -> None:
        page = find_page(options["page"]) if options["page"] else None
        key, raw = create_key(name=options["name"], scope=options["scope"], page=page)
        where = f" for page {page.name}" if page else ""
        self.stdout.write(f"Created {key.scope} key {key.name!r}{where}. It is shown only once:")
        self.stdout.write(raw)  # alone on the last line, so scripts can `| tail -n1`

    def handle_list(self, options: dict[str, Any]) -> None:
        keys = list(ApiKey.objects.select_related("page"))
        if options["json"]:
            self.emit(options, {"keys": [describe(k) for k in keys]}, "")
            return
        self.stdout.write(
            f"{'ID':>4}  {'NAME':<20} {'PREFIX':<11} {'SCOPE':<6} {'PAGE':<12} "
            f"{'CREATED':<16}  {'LAST USED':<16}  REVOKED"
        )
        for k in keys:
            self.stdout.write(
                f"{k.pk:>4}  {k.name[:20]:<20} {k.prefix:<11} {k.scope:<6} "
                f"{(k.page_id or 'all'):<12} {when(k.created_at):<16}  "
                f"{when(k.last_used_at):<16}  {when(k.revoked_at)}"
            )

    def handle_revoke(self, options: dict[str, Any]) -> None:
        key = find_key(options["key"])
        revoke_key(key=key, actor="cli")
        self.stdout.write(f"Revoked key {key.name!r} ({key.prefix}…)")
