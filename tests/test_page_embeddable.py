"""A page's ``embeddable`` setting: off unless asked, set from the command line or the
Manage API, recorded in the audit log, and republished (the read path frames by it)."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from heliograph.accounts.keys import create_key
from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Page


def run(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("page", *args, "--json", stdout=out, stderr=StringIO())
    return dict(json.loads(out.getvalue()))


def test_it_creates_pages_that_no_site_may_frame_unless_asked(db: None) -> None:
    plain = run("create", "OpenSRS")
    framed = run("create", "Tucows", "--embeddable")
    assert plain["embeddable"] is False and framed["embeddable"] is True
    assert Page.objects.get(pk=plain["id"]).embeddable is False
    assert Page.objects.get(pk=framed["id"]).embeddable is True
    listing = StringIO()
    call_command("page", "list", stdout=listing)
    assert f"{framed['id']}  Tucows  (UTC, embeddable)" in listing.getvalue()
    assert f"{plain['id']}  OpenSRS  (UTC)\n" in listing.getvalue()


def test_it_switches_embedding_on_and_off_from_the_command_line(page: Page) -> None:
    version = page.version
    assert run("update", "OpenSRS", "--embeddable")["embeddable"] is True
    page.refresh_from_db()
    assert page.embeddable is True and page.version > version  # republished
    event = AuditEvent.objects.filter(action="page.update").latest("pk")
    assert event.before["embeddable"] is False and event.after["embeddable"] is True
    assert run("update", page.pk, "--no-embeddable")["embeddable"] is False
    assert Page.objects.get(pk=page.pk).embeddable is False
    out = StringIO()
    call_command("page", "update", "OpenSRS", stdout=out)  # nothing asked: nothing changes
    assert "may not frame it" in out.getvalue()


def test_it_names_an_unknown_page(db: None) -> None:
    with pytest.raises(CommandError, match="Nowhere"):
        run("update", "Nowhere", "--embeddable")


def test_it_sets_embedding_over_the_manage_api(client: Client, page: Page) -> None:
    key = create_key(name="bot", scope="write")[1]
    auth = {"HTTP_AUTHORIZATION": f"OAuth {key}"}
    shown = json.loads(client.get(f"/v1/pages/{page.pk}", **auth).content)
    assert shown["embeddable"] is False
    response = client.patch(
        f"/v1/pages/{page.pk}",
        json.dumps({"page": {"embeddable": True}}),
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 200
    assert json.loads(response.content)["embeddable"] is True
    assert Page.objects.get(pk=page.pk).embeddable is True
    form = client.patch(
        f"/v1/pages/{page.pk}",
        "page[embeddable]=false",
        content_type="application/x-www-form-urlencoded",
        **auth,
    )
    assert form.status_code == 200 and json.loads(form.content)["embeddable"] is False
    bad = client.patch(
        f"/v1/pages/{page.pk}",
        json.dumps({"page": {"embeddable": "sometimes"}}),
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 422
    assert "embeddable" in json.loads(bad.content)["message"]
    assert Page.objects.get(pk=page.pk).embeddable is False
