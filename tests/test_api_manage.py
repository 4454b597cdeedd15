"""The Manage API in process: shapes, bodies, errors and the rate limit (fast checks).

Every endpoint and role is exercised again over real HTTP in test_api_live.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from heliograph.accounts.keys import create_key
from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Component, Page
from heliograph.incidents import maintenance as maintenance_rules
from heliograph.incidents.models import Incident
from heliograph.lib import ratelimit
from tests.support.api import call


@pytest.fixture
def key(page: Page) -> str:
    return create_key(name="bot", scope="write")[1]


def test_it_shows_the_page_and_its_components(client: Client, page: Page, key: str) -> None:
    status, body = call(client, "GET", f"/v1/pages/{page.pk}", key)
    assert status == 200 and body["name"] == "OpenSRS" and body["id"] == page.pk
    status, listing = call(client, "GET", f"/v1/pages/{page.pk}/components.json", key)
    assert status == 200
    names = {c["name"]: c for c in listing}
    assert names["Cluster A"]["status"] == "operational" and names["Hosted Email"]["group"]


def test_it_opens_an_incident_with_form_fields(
    client: Client, page: Page, cluster_a: Component, key: str
) -> None:
    form = (
        "incident[name]=Inbound+mail+delays&incident[status]=identified"
        "&incident[body]=Delays+on+Cluster+A"
        f"&incident[components][{cluster_a.pk}]=partial_outage"
    )
    status, body = call(client, "POST", f"/v1/pages/{page.pk}/incidents", key, form=form)
    assert status == 201, body
    assert body["status"] == "identified" and body["impact"] == "major"
    assert [c["id"] for c in body["components"]] == [cluster_a.pk]
    assert body["incident_updates"][0]["affected_components"][0]["new_status"] == "partial_outage"
    assert body["warnings"] == []


def test_it_warns_about_a_duration_the_timeline_contradicts(
    client: Client, page: Page, cluster_a: Component, key: str
) -> None:
    opened = {
        "incident": {
            "name": "Delays",
            "body": "Looking",
            "components": {cluster_a.pk: "major_outage"},
        }
    }
    _, incident = call(client, "POST", f"/v1/pages/{page.pk}/incidents", key, opened)
    resolve = {
        "incident": {
            "status": "resolved",
            "body": "Total Duration: 26 hours",
            "components": {cluster_a.pk: "operational"},
        }
    }
    status, body = call(
        client, "PATCH", f"/v1/pages/{page.pk}/incidents/{incident['id']}", key, resolve
    )
    assert status == 200 and body["status"] == "resolved"
    assert body["warnings"] and "duration" in body["warnings"][0]


def test_it_answers_errors_as_messages(client: Client, page: Page, key: str) -> None:
    assert call(client, "GET", f"/v1/pages/{page.pk}", None)[0] == 401
    status, body = call(client, "GET", f"/v1/pages/{page.pk}/incidents/nope", key)
    assert status == 404 and "message" in body
    status, body = call(client, "GET", "/v1/no/such/thing", key)
    assert status == 404 and "message" in body
    status, body = call(client, "POST", f"/v1/pages/{page.pk}/incidents", key, {"incident": 3})
    assert status == 422 and "incident" in body["message"]
    status, body = call(client, "POST", f"/v1/pages/{page.pk}/incidents", key, {"incident": {}})
    assert status == 422 and "name" in body["message"]
    status, body = call(client, "DELETE", f"/v1/pages/{page.pk}/incidents", key)
    assert status == 405 and "message" in body


def test_it_limits_the_rate_per_key(client: Client, page: Page, key: str, settings: Any) -> None:
    settings.HELIOGRAPH_API_RATE = 3
    try:
        codes = [
            client.get(f"/v1/pages/{page.pk}", HTTP_AUTHORIZATION=f"Bearer {key}") for _ in range(4)
        ]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        assert int(codes[-1]["Retry-After"]) >= 1
        assert "message" in json.loads(codes[-1].content)
    finally:
        settings.HELIOGRAPH_API_RATE = 600
        ratelimit.take("reset")  # drops the low-rate buckets


def test_it_runs_the_postmortem_cycle(
    client: Client, page: Page, incident: Incident, key: str
) -> None:
    base = f"/v1/pages/{page.pk}/incidents/{incident.pk}/postmortem"
    status, draft = call(client, "GET", base, key)
    assert status == 200 and draft["body_draft"]
    status, body = call(client, "PUT", base, key, {"postmortem": {"body_draft": "What happened"}})
    assert status == 200 and body["body_draft"] == "What happened"
    status, body = call(client, "PUT", base + "/publish", key, {"postmortem": {}})
    assert status == 200 and body["published_at"], body
    _, shown = call(client, "GET", f"/v1/pages/{page.pk}/incidents/{incident.pk}", key)
    assert shown["status"] == "postmortem" and shown["postmortem_body"] == "What happened"
    status, body = call(client, "PUT", base + "/revert", key)
    assert status == 200 and body["published_at"] is None


def test_it_schedules_maintenance_and_lists_it_as_upcoming(
    client: Client, page: Page, cluster_a: Component, key: str
) -> None:
    body = {
        "incident": {
            "name": "Rspamd upgrade",
            "status": "scheduled",
            "body": "Upgrading",
            "scheduled_for": "2099-01-01T10:00:00Z",
            "scheduled_until": "2099-01-01T12:00:00Z",
            "component_ids": [cluster_a.pk],
        }
    }
    status, made = call(client, "POST", f"/v1/pages/{page.pk}/incidents", key, body)
    assert status == 201 and made["status"] == "scheduled" and made["impact"] == "maintenance"
    assert made["scheduled_for"].startswith("2099-01-01T")
    for listing in ("upcoming", "scheduled"):
        _, found = call(client, "GET", f"/v1/pages/{page.pk}/incidents/{listing}", key)
        assert [i["id"] for i in found] == [made["id"]]
    _, unresolved = call(client, "GET", f"/v1/pages/{page.pk}/incidents/unresolved", key)
    assert made["id"] not in [i["id"] for i in unresolved]


def schedule_by_api(client: Client, page: Page, key: str, **flags: Any) -> tuple[int, Any]:
    body = {
        "incident": {
            "name": "Rspamd upgrade",
            "status": "scheduled",
            "scheduled_for": "2099-01-01T10:00:00Z",
            "scheduled_until": "2099-01-01T12:00:00Z",
            **flags,
        }
    }
    return call(client, "POST", f"/v1/pages/{page.pk}/incidents", key, body)


def flags_of(body: Any) -> tuple[bool, bool, bool]:
    return (
        body["scheduled_remind_prior"],
        body["scheduled_auto_in_progress"],
        body["scheduled_auto_completed"],
    )


def test_it_keeps_the_automation_flags_a_maintenance_is_scheduled_with(
    client: Client, page: Page, key: str
) -> None:
    status, made = schedule_by_api(client, page, key)
    assert status == 201 and flags_of(made) == (False, True, True)  # Statuspage's defaults
    status, made = schedule_by_api(
        client,
        page,
        key,
        scheduled_remind_prior=True,
        scheduled_auto_in_progress=False,
        scheduled_auto_completed=False,
    )
    assert status == 201 and flags_of(made) == (True, False, False)
    stored = Incident.objects.get(pk=made["id"])
    assert (
        stored.scheduled_remind_prior,
        stored.scheduled_auto_in_progress,
        stored.scheduled_auto_completed,
    ) == (True, False, False)
    _, shown = call(client, "GET", f"/v1/pages/{page.pk}/incidents/{made['id']}", key)
    assert flags_of(shown) == (True, False, False)
    # The spec's other name for scheduled_auto_in_progress.
    _, made = schedule_by_api(client, page, key, scheduled_auto_transition=False)
    assert flags_of(made) == (False, False, True)


def test_it_reschedules_a_scheduled_maintenance(client: Client, page: Page, key: str) -> None:
    _, made = schedule_by_api(client, page, key)
    url = f"/v1/pages/{page.pk}/incidents/{made['id']}"
    moved = {
        "incident": {
            "scheduled_for": "2099-01-02T10:00:00Z",
            "scheduled_until": "2099-01-02T13:00:00Z",
        }
    }
    status, body = call(client, "PATCH", url, key, moved)
    assert status == 200
    stored = Incident.objects.get(pk=made["id"])
    assert (stored.scheduled_for.day, stored.scheduled_until.hour) == (2, 13)
    assert body["scheduled_for"] == made["scheduled_for"].replace("01T05", "02T05")
    status, _ = call(
        client, "PUT", url, key, {"incident": {"scheduled_until": "2099-01-02T14:00Z"}}
    )
    assert status == 200 and Incident.objects.get(pk=made["id"]).scheduled_until.hour == 14
    assert AuditEvent.objects.filter(action="maintenance.reschedule").count() == 2


def test_it_refuses_a_reschedule_that_cannot_be_done(
    client: Client, page: Page, incident: Incident, key: str
) -> None:
    _, made = schedule_by_api(client, page, key)
    started = Incident.objects.get(pk=schedule_by_api(client, page, key)[1]["id"])
    maintenance_rules.start_maintenance(maintenance=started)
    events = AuditEvent.objects.count()
    windows = list(Incident.objects.values_list("pk", "name", "scheduled_for", "scheduled_until"))
    refused = [
        (made["id"], {"scheduled_until": "2099-01-01T09:00:00Z"}, "must end after it starts"),
        (
            made["id"],
            {"scheduled_for": "2099-01-01T13:00:00Z", "name": "Renamed"},
            "must end after it starts",
        ),
        (started.pk, {"scheduled_for": "2099-01-05T10:00:00Z"}, "only a scheduled one"),
        (incident.pk, {"scheduled_for": "2099-01-05T10:00:00Z"}, "not a maintenance"),
    ]
    for pk, fields, words in refused:
        url = f"/v1/pages/{page.pk}/incidents/{pk}"
        status, body = call(client, "PATCH", url, key, {"incident": fields})
        assert status == 422 and words in body["message"], body
    assert AuditEvent.objects.count() == events
    assert (
        list(Incident.objects.values_list("pk", "name", "scheduled_for", "scheduled_until"))
        == windows
    )


def test_it_backfills_an_incident_at_its_given_time(
    client: Client, page: Page, cluster_a: Component, key: str
) -> None:
    body = {
        "incident": {
            "name": "Old outage",
            "body": "It happened",
            "backfilled": True,
            "backfill_date": "2026-01-05T10:00:00Z",
            "component_ids": [cluster_a.pk],
        }
    }
    status, made = call(client, "POST", f"/v1/pages/{page.pk}/incidents", key, body)
    assert status == 201 and made["backfilled"] and made["status"] == "resolved"
    assert made["created_at"].startswith("2026-01-05T")
    assert made["components"][0]["status"] == "operational"


def test_it_takes_a_component_out_of_its_group_by_form(
    client: Client, page: Page, cluster_a: Component, key: str
) -> None:
    path = f"/v1/pages/{page.pk}/components/{cluster_a.pk}"
    status, body = call(client, "PATCH", path, key, form="component[group_id]=null")
    assert status == 200 and body["group_id"] is None
    status, body = call(client, "PATCH", path, key, form="component[group_id]=nope")
    assert status == 422 and "nope" in body["message"]


def test_it_reads_json_sent_as_a_form_and_refuses_nul(client: Client, page: Page, key: str) -> None:
    body = json.dumps({"component": {"name": "Cluster C"}})
    status, made = call(client, "POST", f"/v1/pages/{page.pk}/components", key, form=body)
    assert status == 201 and made["name"] == "Cluster C"
    status, reply = call(
        client,
        "POST",
        f"/v1/pages/{page.pk}/components",
        key,
        {"component": {"name": "bad\x00name"}},
    )
    assert status == 422 and "NUL" in reply["message"]
    status, reply = call(
        client, "PATCH", f"/v1/pages/{page.pk}/incidents/x\x00y", key, {"incident": {"name": "x"}}
    )
    assert status == 400 and "NUL" in reply["message"]


def test_it_manages_templates_by_id(client: Client, page: Page, key: str) -> None:
    base = f"/v1/pages/{page.pk}/incident_templates"
    body = {"template": {"name": "Delays", "title": "Mail delays", "body": "Looking"}}
    status, made = call(client, "POST", base, key, body)
    assert status == 201 and made["update_status"] == "investigating"
    status, changed = call(
        client, "PATCH", f"{base}/{made['id']}", key, {"template": {"title": "Inbound mail delays"}}
    )
    assert status == 200 and changed["title"] == "Inbound mail delays"
    assert call(client, "DELETE", f"{base}/{made['id']}", key)[0] == 200
    assert call(client, "GET", f"{base}/{made['id']}", key)[0] == 404


def test_it_restricts_a_page_key_to_its_page(client: Client, page: Page) -> None:
    from heliograph.catalog.services import create_page

    other = create_page(name="Elsewhere")
    raw = create_key(name="scoped", page=other)[1]
    status, pages = call(client, "GET", "/v1/pages", raw)
    assert status == 200 and [p["id"] for p in pages] == [other.pk]
    status, reply = call(client, "GET", f"/v1/pages/{page.pk}", raw)
    assert status == 403 and "another page" in reply["message"]
