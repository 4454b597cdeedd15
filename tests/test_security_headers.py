"""Every answer Django gives carries the security headers, and the console works under its
Content-Security-Policy: no script at all, styles inline only, framed by no one."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from heliograph.accounts.keys import create_key
from heliograph.catalog.models import Page
from heliograph.incidents.models import Incident

Login = Callable[[str], Client]


def policy(response: Any) -> dict[str, list[str]]:
    directives = [d.split() for d in response["Content-Security-Policy"].split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def assert_hardened(response: Any) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    csp = policy(response)
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["default-src"] == ["'none'"] and csp["script-src"] == ["'none'"]


def test_it_hardens_every_kind_of_answer(
    client: Client, as_role: Login, page: Page, incident: Incident
) -> None:
    key = create_key(name="bot", scope="read")[1]
    auth = {"HTTP_AUTHORIZATION": f"OAuth {key}"}
    answers = {
        "login page": client.get("/console/login"),
        "console page": as_role("viewer").get(f"/console/incidents/{incident.pk}"),
        "console 404": as_role("viewer").get("/console/incidents/nope"),
        "redirect to log in": client.get("/console/"),
        "Manage API": client.get(f"/v1/pages/{page.pk}", **auth),
        "Manage API 401": client.get(f"/v1/pages/{page.pk}"),
        "OpenAPI document": client.get("/v1/openapi.json"),
        "subscribe page": client.get("/notify/subscribe"),
        "public API 405": client.get("/api/v2/subscribers.json"),
        "NUL refused": client.get("/console/login?next=%00"),
        "body too large": client.post("/console/login", {"a": "x" * 3 * 2**20}),
    }
    assert [r.status_code for r in answers.values()] == [
        200,
        200,
        404,
        302,
        200,
        401,
        200,
        200,
        405,
        400,
        400,
    ]
    for what, response in answers.items():
        try:
            assert_hardened(response)
        except (AssertionError, KeyError) as exc:
            raise AssertionError(f"{what}: {exc!r}") from exc


CONSOLE_PAGES = [
    "/console/", "/console/incidents", "/console/incidents/new", "/console/maintenance",
    "/console/changes", "/console/components", "/console/templates", "/console/keys",
    "/console/users", "/console/audit", "/console/subscribers", "/console/subscribers/new",
    "/console/notifications", "/console/monitors", "/console/monitors/new",
]  # fmt: skip


@pytest.mark.parametrize("path", CONSOLE_PAGES)
def test_it_renders_console_pages_the_policy_lets_a_browser_run(
    as_role: Login, page: Page, incident: Incident, path: str
) -> None:
    """The policy forbids every script, so a page that needed one would be broken: none
    may have a <script>, an inline event handler or a javascript: link. Inline styles are
    what the console uses, and what the policy allows."""
    response = as_role("owner").get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script" not in html.lower()
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE)
    assert "javascript:" not in html.lower()
    assert policy(response)["style-src"] == ["'unsafe-inline'"]
    assert policy(response)["form-action"] == ["'self'"]
    for action in re.findall(r'<form[^>]*\saction="([^"]*)"', html):
        assert action.startswith("/") and not action.startswith("//"), action
