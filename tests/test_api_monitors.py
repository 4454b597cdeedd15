"""Monitors in the Manage API: CRUD, run now, pause, resume, results; secrets write-only."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from heliograph.accounts.keys import create_key
from heliograph.audit.models import AuditEvent
from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.monitors.models import Monitor, ProbeResult
from tests.support.api import call
from tests.support.world import INBOUND_MAIL

PASSWORD = "api-imap-pw-5ee1d0"


@pytest.fixture
def key(page: Page) -> str:
    return create_key(name="bot", scope="write")[1]


@pytest.fixture
def base(page: Page) -> str:
    return f"/v1/pages/{page.pk}/monitors"


def create(client: Client, base: str, key: str, **fields: Any) -> tuple[int, Any]:
    body = {
        "name": "Inbound — Cluster A",
        "kind": "mail_roundtrip",
        "config": INBOUND_MAIL,
        **fields,
    }
    return call(client, "POST", base, key, {"monitor": body})


def no_secret_anywhere(*answers: Any) -> None:
    assert PASSWORD not in json.dumps(answers)
    assert PASSWORD not in json.dumps(list(AuditEvent.objects.values("before", "after")))


def test_it_creates_a_monitor_and_only_says_its_secret_is_set(
    client: Client, page: Page, cluster_a: Component, key: str, base: str
) -> None:
    status, body = create(
        client,
        base,
        key,
        component_id=cluster_a.pk,
        interval_seconds=120,
        timeout_seconds=110,
        automation="draft",
        public=True,
        secrets={"imap_password": PASSWORD},
    )
    assert status == 201, body
    assert body["secrets"] == {"imap_password": "set", "smtp_password": "not set"}
    assert body["config"]["smtp_port"] == 25 and "imap_password" not in body["config"]
    assert body["component_id"] == cluster_a.pk and body["automation"] == "draft"
    assert body["last_verdict"] is None and body["paused"] is False
    assert body["next_run_at"].endswith("-04:00") or body["next_run_at"].endswith("-05:00")
    assert Monitor.objects.get(pk=body["id"]).secrets == {"imap_password": PASSWORD}
    got = call(client, "GET", f"{base}/{body['id']}", key)
    listed = call(client, "GET", f"{base}.json", key)
    assert got[0] == listed[0] == 200 and listed[1][0]["id"] == body["id"]
    no_secret_anywhere(body, got, listed)


def test_it_moves_a_secret_written_in_the_config_aside(
    client: Client, page: Page, key: str, base: str
) -> None:
    status, body = create(client, base, key, config={**INBOUND_MAIL, "imap_password": PASSWORD})
    assert status == 201 and body["secrets"]["imap_password"] == "set"
    no_secret_anywhere(body)


def test_it_takes_form_fields_too(client: Client, page: Page, key: str, base: str) -> None:
    form = (
        "monitor[name]=Port+25&monitor[kind]=tcp&monitor[config][host]=mx.example.net"
        "&monitor[config][port]=25&monitor[interval_seconds]=30"
    )
    status, body = call(client, "POST", base, key, form=form)
    assert status == 201, body
    assert body["config"]["port"] == 25 and body["interval_seconds"] == 30


def test_it_patches_only_what_is_sent_and_keeps_the_secret(
    client: Client, page: Page, cluster_a: Component, key: str, base: str
) -> None:
    _, made = create(client, base, key, secrets={"imap_password": PASSWORD})
    path = f"{base}/{made['id']}"
    status, body = call(client, "PATCH", path, key, {"monitor": {"interval_seconds": 300}})
    assert status == 200, body
    assert body["interval_seconds"] == 300 and body["secrets"]["imap_password"] == "set"
    assert Monitor.objects.get(pk=made["id"]).secrets == {"imap_password": PASSWORD}
    moved = {"monitor": {"component_id": cluster_a.pk, "automation": "publish"}}
    assert call(client, "PATCH", path, key, moved)[1]["component_id"] == cluster_a.pk
    cleared = {"monitor": {"secrets": {"imap_password": None}}}
    assert call(client, "PATCH", path, key, cleared)[1]["secrets"]["imap_password"] == "not set"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "tcp", "config": {"port": 25}}, "config: host is required"),
        ({"interval_seconds": 5}, "monitor.interval_seconds: Input should be greater than"),
        ({"component_id": "nope"}, "has no component with id 'nope'"),
        ({"automation": "publish"}, "incident automation needs a component"),
        ({"secrets": {"password": PASSWORD}}, "has no secret 'password'"),
        (
            {"config": {**INBOUND_MAIL, "smtp_port": "x"}},
            "config: smtp_port must be a whole number",
        ),
        ({"name": None}, "monitor.name"),
    ],
)
def test_it_refuses_bad_monitors_with_a_message_and_writes_nothing(
    client: Client, page: Page, key: str, base: str, fields: dict[str, Any], message: str
) -> None:
    status, body = create(client, base, key, **fields)
    assert status == 422 and message in body["message"], body
    assert PASSWORD not in body["message"]
    assert (
        not Monitor.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="monitor.").exists()
    )


LOOP_CHECK = {"url": "http://rspamd.cluster-a.example.net:11334", "mode": "history"}


def test_it_round_trips_a_monitors_role_and_severity(
    client: Client, page: Page, cluster_a: Component, key: str, base: str
) -> None:
    status, made = create(client, base, key, name="Filter loop", kind="rspamd", config=LOOP_CHECK)
    assert status == 201, made
    assert (made["role"], made["role_set"], made["severity"]) == (
        "signal",  # by its kind
        False,
        "degraded_performance",
    )
    _, trip = create(client, base, key)
    assert (trip["role"], trip["role_set"]) == ("path", False)
    path = f"{base}/{made['id']}"
    worse = {"monitor": {"severity": "major_outage"}}
    assert call(client, "PATCH", path, key, worse)[1]["severity"] == "major_outage"
    status, body = call(client, "PATCH", path, key, {"monitor": {"role": "path"}})
    assert status == 200 and (body["role"], body["role_set"]) == ("path", True)
    form = "monitor[role]=signal&monitor[severity]=partial_outage"
    status, body = call(client, "PATCH", path, key, form=form)
    assert status == 200 and (body["role"], body["severity"]) == ("signal", "partial_outage")
    status, body = call(client, "PATCH", path, key, {"monitor": {"role": None}})
    assert status == 200 and (body["role"], body["role_set"]) == ("signal", False)
    assert call(client, "GET", path, key)[1] == body
    audited = AuditEvent.objects.filter(action="monitor.update").order_by("id").last()
    assert audited is not None and audited.after["role"] == "signal"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"role": "detector"}, "monitor.role: Input should be 'path' or 'signal'"),
        ({"severity": "operational"}, "monitor.severity: Input should be"),
        ({"severity": None}, "monitor.severity cannot be null"),
        ({"role": "path", "severity": "partial_outage"}, "severity applies to signals only"),
    ],
)
def test_it_refuses_a_bad_role_or_severity_with_a_message(
    client: Client, page: Page, key: str, base: str, fields: dict[str, Any], message: str
) -> None:
    _, made = create(client, base, key, name="Filter loop", kind="rspamd", config=LOOP_CHECK)
    status, body = call(client, "PATCH", f"{base}/{made['id']}", key, {"monitor": fields})
    assert status in (400, 422) and message in body["message"], body
    kept = Monitor.objects.get(pk=made["id"])
    assert (kept.role, kept.severity) == ("", "degraded_performance")


def test_it_documents_role_and_severity_in_openapi(client: Client) -> None:
    document = client.get("/v1/openapi.json").json()
    fields = document["components"]["schemas"]["MonitorFields"]["properties"]
    assert "signal" in json.dumps(fields["role"]) and "major_outage" in json.dumps(
        fields["severity"]
    )
    assert "rspamd and prometheus are signals" in json.dumps(fields["role"])


def test_it_refuses_a_patch_that_would_break_the_monitor(
    client: Client, page: Page, key: str, base: str
) -> None:
    _, made = create(client, base, key)
    path = f"{base}/{made['id']}"
    for fields in ({"kind": "http"}, {"name": ""}, {"timeout_seconds": 0}):
        status, body = call(client, "PATCH", path, key, {"monitor": fields})
        assert status == 422, (fields, body)
    assert Monitor.objects.get(pk=made["id"]).kind == "mail_roundtrip"


def test_it_runs_pauses_and_resumes(client: Client, page: Page, key: str, base: str) -> None:
    _, made = create(client, base, key)
    path = f"{base}/{made['id']}"
    Monitor.objects.filter(pk=made["id"]).update(next_run_at=timezone.now() + timedelta(hours=1))
    status, ran = call(client, "POST", f"{path}/run", key)
    assert status == 200 and Monitor.objects.get(pk=made["id"]).next_run_at <= timezone.now()
    status, paused = call(client, "POST", f"{path}/pause", key)
    assert status == 200 and paused["paused"] is True
    status, body = call(client, "POST", f"{path}/run", key)
    assert status == 422 and "is paused" in body["message"]
    status, resumed = call(client, "POST", f"{path}/resume.json", key)
    assert status == 200 and resumed["paused"] is False
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"monitor.run", "monitor.pause", "monitor.resume"} <= actions


def test_it_pages_through_recent_results(client: Client, page: Page, key: str, base: str) -> None:
    _, made = create(client, base, key)
    now = timezone.now()
    for minute in range(5):
        ProbeResult.objects.create(
            monitor_id=made["id"],
            at=now - timedelta(minutes=minute),
            verdict="unknown" if minute == 0 else "ok",
            reason=f"run {minute}",
            values={"delivery_seconds": 4.0 + minute},
        )
    path = f"{base}/{made['id']}/results"
    status, first = call(client, "GET", f"{path}?per_page=2", key)
    assert status == 200 and [r["reason"] for r in first] == ["run 0", "run 1"]
    assert first[0]["verdict"] == "unknown" and first[1]["values"] == {"delivery_seconds": 5.0}
    second = call(client, "GET", f"{path}?per_page=2&page=2", key)[1]
    assert [r["reason"] for r in second] == ["run 2", "run 3"]
    unknown = call(client, "GET", f"{path}?verdict=unknown", key)[1]
    assert [r["reason"] for r in unknown] == ["run 0"]


def test_it_deletes_a_monitor(client: Client, page: Page, key: str, base: str) -> None:
    _, made = create(client, base, key)
    response = client.delete(f"{base}/{made['id']}", HTTP_AUTHORIZATION=f"OAuth {key}")
    assert response.status_code == 204
    assert not Monitor.objects.exists()
    assert call(client, "GET", f"{base}/{made['id']}", key)[0] == 404


def test_it_keeps_monitors_to_their_page(client: Client, page: Page, key: str, base: str) -> None:
    _, made = create(client, base, key)
    other = catalog.create_page(name="Elsewhere")
    status, body = call(client, "GET", f"/v1/pages/{other.pk}/monitors/{made['id']}", key)
    assert status == 404 and body["message"] == "The requested monitor could not be found."
    assert call(client, "GET", f"/v1/pages/{other.pk}/monitors", key)[1] == []


def test_it_refuses_writes_to_a_read_key(client: Client, page: Page, key: str, base: str) -> None:
    _, made = create(client, base, key)
    reader = create_key(name="reader", scope="read")[1]
    assert call(client, "GET", f"{base}/{made['id']}/results", reader)[0] == 200
    for method, path in (
        ("POST", base),
        ("PATCH", f"{base}/{made['id']}"),
        ("POST", f"{base}/{made['id']}/run"),
    ):
        assert call(client, method, path, reader, {"monitor": {}})[0] == 403


def test_it_offers_every_probe_kind() -> None:
    from typing import get_args

    from heliograph.api.monitor_schemas import Kind
    from heliograph.monitors.probes.registry import KINDS

    assert get_args(Kind) == KINDS
