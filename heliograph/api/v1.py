"""Manage API v1, Statuspage compatible (``/v1/``), plus Heliograph's extensions.

Paths also answer with a ``.json`` suffix (``/v1/pages/abc.json``) as Statuspage's do; any
other /v1/ path answers a JSON 404.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path, re_path
from ninja import NinjaAPI

from heliograph.api import (
    components,
    extensions,
    incidents,
    monitors,
    pages,
    postmortems,
    subscribers,
    templates,
)
from heliograph.api.auth import ApiKeyAuth
from heliograph.api.errors import install, json_method_errors, route_not_found
from heliograph.api.parsing import StatuspageParser

DESCRIPTION = """\
Statuspage's Manage API v1 (the core: pages, components, component groups, incidents and
their updates, postmortems, incident templates, component uptime, subscribers and incident
subscribers) plus Heliograph's own resources (changes, impact windows, reopen, caused_by,
a webhook subscriber's rotate_secret, monitors and their results: secrets write-only).

Subscribers are e-mail (double opt-in unless `skip_confirmation_notification`) or webhook
(active at once; `signing_secret` signs `X-Heliograph-Signature`); SMS and Slack are not
supported. Beside Statuspage's fields a subscriber shows `state`, `incident_id`,
`confirmed_at` and `unsubscribed_at`.

Authenticate with `Authorization: OAuth <api key>` (or `Bearer <api key>`, or
`?api_key=<api key>`). Bodies are JSON or form-encoded, with the resource wrapped:
`{"incident": {...}}` or `incident[name]=...`. Errors are `{"message": "..."}`. Each key may
make `HELIOGRAPH_API_RATE` requests per minute (default 600); past that: 429 + Retry-After.
"""


class ManageApi(NinjaAPI):
    def _get_urls(self) -> list[URLResolver | URLPattern]:
        urls = super()._get_urls()
        patterns = [u for u in urls if isinstance(u, URLPattern)]
        routes = [u for u in patterns if str(u.pattern).startswith("pages")]
        # Statuspage clients often write ``.../incidents.json``: same view, same name rules.
        suffixed = [
            path(f"{u.pattern}.json", json_method_errors(u.callback), name=f"{u.name or ''}_json")
            for u in routes
        ]
        plain = [
            path(str(u.pattern), json_method_errors(u.callback), name=u.name or "")
            if u in routes
            else u
            for u in urls
        ]
        return [*suffixed, *plain, re_path(r"^.*$", route_not_found)]


api = ManageApi(
    title="Heliograph Manage API",
    version="1.0.0",
    description=DESCRIPTION,
    urls_namespace="v1",
    auth=ApiKeyAuth(),
    parser=StatuspageParser(),
    docs_url="/docs",
)
install(api)
for module in (pages, components, incidents, postmortems, templates, extensions, subscribers):
    api.add_router("", module.router)
api.add_router("", components.groups)
api.add_router("", monitors.router)
