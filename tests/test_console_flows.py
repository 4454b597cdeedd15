"""What a responder, admin or owner sees and changes through the console's forms."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.test import Client
from django.utils import timezone

from heliograph.accounts.models import ApiKey, User
from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Component, Page
from heliograph.catalog.services import create_page
from heliograph.incidents import maintenance as maintenance_rules
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Change, Incident, Postmortem

Login = Callable[[str], Client]


def open_form(cluster_a: Component, **extra: str) -> dict[str, str]:
    return {
        "name": "Inbound mail delays on Cluster A",
        "status": "investigating",
        "body": "We are seeing **inbound delays** on Cluster A.",
        "action": "publish",
        "deliver_notifications": "on",
        f"c-{cluster_a.pk}": "degraded_performance",
        **extra,
    }


def test_it_opens_an_incident_with_a_status_per_component(
    as_role: Login, cluster_a: Component
) -> None:
    response = as_role("responder").post("/console/incidents/new", open_form(cluster_a))
    incident = Incident.objects.get(name="Inbound mail delays on Cluster A")
    assert response.status_code == 302
    assert response["Location"] == f"/console/incidents/{incident.pk}"
    cluster_a.refresh_from_db()
    assert cluster_a.status == "degraded_performance"
    assert incident.impact == "minor"
    event = AuditEvent.objects.get(action="incident.create", target_id=incident.pk)
    assert event.actor == "user:responder"


def test_it_shows_bad_input_as_a_form_error_and_writes_nothing(
    as_role: Login, cluster_a: Component
) -> None:
    client = as_role("responder")
    count, events = Incident.objects.count(), AuditEvent.objects.count()
    response = client.post("/console/incidents/new", open_form(cluster_a, body="   "))
    assert response.status_code == 400
    assert b'role="alert"' in response.content and b"body" in response.content
    assert Incident.objects.count() == count and AuditEvent.objects.count() == events
    cluster_a.refresh_from_db()
    assert cluster_a.status == "operational"
    response = as_role("admin").post("/console/components/new", {"name": "Cluster A"})
    assert response.status_code == 400
    assert b"already has a component named" in response.content
    assert Component.objects.filter(name="Cluster A").count() == 1


def test_it_previews_markdown_through_the_public_sanitiser(
    as_role: Login, cluster_a: Component
) -> None:
    body = "**bold** <script>alert(1)</script> [x](javascript:alert(1))"
    response = as_role("responder").post(
        "/console/incidents/new", open_form(cluster_a, body=body, action="preview")
    )
    html = response.content.decode()
    assert "<strong>bold</strong>" in html
    assert "<script>alert" not in html and 'href="javascript:' not in html
    assert not Incident.objects.filter(name="Inbound mail delays on Cluster A").exists()


def test_it_warns_about_a_duration_the_timeline_contradicts(
    as_role: Login, incident: Incident
) -> None:
    client = as_role("responder")
    form = {
        "status": "resolved",
        "body": "Fixed.\n\nTotal Duration: 26 minutes",
        "action": "publish",
    }
    updates = incident.updates.count()
    first = client.post(f"/console/incidents/{incident.pk}/reopen", form)
    text = first.content.decode()
    assert first.status_code == 200
    assert "disagrees with the recorded timeline" in text and "26 min" in text
    assert "Publish anyway" in text
    assert incident.updates.count() == updates
    # Not reopening from "resolved" to "resolved": post it as a plain update instead.
    confirmed = client.post(f"/console/incidents/{incident.pk}", {**form, "confirm": "1"})
    assert confirmed.status_code in (302, 400)


def test_responders_see_the_impact_and_what_differs_as_customers_do(
    as_role: Login, incident: Incident
) -> None:
    shown = as_role("viewer").get(f"/console/incidents/{incident.pk}").content.decode()
    impact = shown[shown.index('id="impact"') : shown.index("<h2>Updates</h2>")]
    assert "Jul 08, 2021 11:57 AM EDT (15:57 UTC) → Jul 08, 2021 12:23 PM EDT (16:23 UTC)" in impact
    assert "Total duration: <strong>1 d 5 min</strong>" in impact
    # One clock: the page's zone with UTC beside it, as on the public page.
    assert "2021-07-08 12:04 EDT (16:04 UTC)" in shown  # the Investigating update
    assert "Times are in the page's zone (America/New_York), with UTC beside them." in shown
    assert (
        "This update states a duration of 26 min; the recorded impact windows add up to "
        "1 d 5 min." in shown
    )


def test_it_publishes_anyway_once_confirmed(
    as_role: Login, page: Page, cluster_a: Component
) -> None:
    start = timezone.now() - timedelta(hours=3)
    opened = incidents.open_incident(
        page=page,
        name="Delays",
        body="Looking.",
        at=start,
        components={cluster_a: "degraded_performance"},
    )
    client = as_role("responder")
    form = {
        "status": "resolved",
        "body": "Total Duration: 26 minutes",
        "action": "publish",
        f"c-{cluster_a.pk}": "operational",
    }
    warned = client.post(f"/console/incidents/{opened.pk}", form)
    assert b"Publish anyway" in warned.content
    assert opened.updates.count() == 1
    done = client.post(f"/console/incidents/{opened.pk}", {**form, "confirm": "1"})
    assert done.status_code == 302
    opened.refresh_from_db()
    assert opened.status == "resolved" and opened.updates.count() == 2


def test_it_posts_updates_then_reopens(as_role: Login, page: Page, cluster_a: Component) -> None:
    client = as_role("responder")
    client.post("/console/incidents/new", open_form(cluster_a))
    incident = Incident.objects.get(name="Inbound mail delays on Cluster A")
    url = f"/console/incidents/{incident.pk}"
    client.post(
        url,
        {
            "status": "identified",
            "body": "A change was rolled back.",
            "action": "publish",
            f"c-{cluster_a.pk}": "degraded_performance",
        },
    )
    client.post(
        url,
        {
            "status": "resolved",
            "body": "Delivery is back to normal.",
            "action": "publish",
            f"c-{cluster_a.pk}": "operational",
        },
    )
    incident.refresh_from_db()
    assert incident.status == "resolved"
    page_html = client.get(url).content.decode()
    assert "Reopen: the problem came back" in page_html
    response = client.post(
        f"{url}/reopen",
        {
            "status": "investigating",
            "body": "Delays are back.",
            "action": "publish",
            f"c-{cluster_a.pk}": "degraded_performance",
        },
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    cluster_a.refresh_from_db()
    assert incident.status == "investigating" and cluster_a.status == "degraded_performance"
    assert incident.updates.filter(reopened=True).count() == 1


def test_it_links_an_incident_to_its_cause(as_role: Login, page: Page, incident: Incident) -> None:
    change = incidents.record_change(
        page=page,
        title="Rspam config",
        at=incident.started_at - timedelta(minutes=5),
        components=list(page.components.all()),
        actor="test",
    )
    later = incidents.record_change(
        page=page, title="Next year's rollout", at=incident.started_at + timedelta(days=365)
    )
    client = as_role("responder")
    shown = client.get(f"/console/incidents/{incident.pk}").content.decode()
    picker = shown[shown.index('id="id_cause"') :]
    assert "Rspam config" in picker and later.title not in picker  # only what came before
    response = client.post(
        f"/console/incidents/{incident.pk}/cause", {"cause": f"change:{change.pk}"}
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.caused_by_change_id == change.pk


def test_it_schedules_maintenance_and_records_changes(as_role: Login, cluster_a: Component) -> None:
    client = as_role("responder")
    response = client.post(
        "/console/maintenance",
        {
            "name": "Rspam upgrade",
            "body": "Upgrading.",
            "scheduled_for": "2031-07-08T15:00",
            "scheduled_until": "2031-07-08T16:00",
            "components": [cluster_a.pk],
        },
    )
    assert response.status_code == 302
    window = Incident.objects.get(name="Rspam upgrade")
    # Typed in the page's zone (America/New_York, EDT in July) unless UTC is picked.
    assert window.kind == "maintenance"
    assert window.scheduled_for == datetime(2031, 7, 8, 19, 0, tzinfo=UTC)
    assert list(window.components.all()) == [cluster_a]
    assert b"Rspam upgrade" in client.get("/console/").content
    backwards = client.post(
        "/console/maintenance",
        {
            "name": "Backwards",
            "body": "x",
            "scheduled_for": "2031-07-08T16:00",
            "scheduled_until": "2031-07-08T15:00",
        },
    )
    assert backwards.status_code == 400 and b"must end after it starts" in backwards.content
    client.post(
        "/console/changes",
        {"title": "Deploy 1.2", "source": "deploy", "components": [cluster_a.pk]},
    )
    assert Change.objects.get(title="Deploy 1.2").actor == "user:responder"
    assert b"Deploy 1.2" in client.get("/console/").content


def test_it_schedules_maintenance_with_its_automation_options(
    as_role: Login, cluster_a: Component
) -> None:
    client = as_role("responder")
    form = client.get("/console/maintenance").content.decode()
    assert 'id="id_auto_in_progress" checked' in form and 'id="id_auto_completed" checked' in form
    assert 'id="id_remind_prior">' in form  # unticked
    window = {
        "name": "Rspam upgrade",
        "body": "Upgrading.",
        "scheduled_for": "2031-07-08T15:00",
        "scheduled_until": "2031-07-08T16:00",
        "components": [cluster_a.pk],
    }
    client.post("/console/maintenance", {**window, "remind_prior": "on"})
    reminded = Incident.objects.get(name="Rspam upgrade")
    assert (
        reminded.scheduled_remind_prior,
        reminded.scheduled_auto_in_progress,
        reminded.scheduled_auto_completed,
    ) == (True, False, False)
    client.post(
        "/console/maintenance",
        {**window, "name": "Auto", "auto_in_progress": "on", "auto_completed": "on"},
    )
    auto = Incident.objects.get(name="Auto")
    assert (
        auto.scheduled_remind_prior,
        auto.scheduled_auto_in_progress,
        auto.scheduled_auto_completed,
    ) == (False, True, True)


def test_it_reschedules_a_maintenance_from_its_page(as_role: Login, page: Page) -> None:
    window = incidents.schedule_maintenance(
        page=page,
        name="Rspam upgrade",
        body="b",
        scheduled_for=timezone.now() + timedelta(days=1),
        scheduled_until=timezone.now() + timedelta(days=1, hours=1),
    )
    client = as_role("responder")
    shown = client.get(f"/console/incidents/{window.pk}").content
    assert (
        b"Reschedule" in shown and f"/console/maintenance/{window.pk}/reschedule".encode() in shown
    )
    url = f"/console/maintenance/{window.pk}/reschedule"
    in_utc = {"time_zone": "UTC"}
    response = client.post(
        url,
        {"scheduled_for": "2031-07-09T15:00", "scheduled_until": "2031-07-09T17:00", **in_utc},
    )
    assert response.status_code == 302 and response["Location"] == f"/console/incidents/{window.pk}"
    window.refresh_from_db()
    assert (window.scheduled_for.day, window.scheduled_for.hour, window.scheduled_until.hour) == (
        9,
        15,
        17,
    )
    assert AuditEvent.objects.get(action="maintenance.reschedule").actor == "user:responder"
    events = AuditEvent.objects.count()
    backwards = client.post(
        url,
        {"scheduled_for": "2031-07-09T18:00", "scheduled_until": "2031-07-09T17:00", **in_utc},
    )
    assert backwards.status_code == 400 and b"must end after it starts" in backwards.content
    garbled = client.post(url, {"scheduled_for": "soon", "scheduled_until": "2031-07-09T17:00"})
    assert garbled.status_code == 400 and b'role="alert"' in garbled.content
    assert AuditEvent.objects.count() == events
    window.refresh_from_db()
    assert (window.scheduled_for.hour, window.scheduled_until.hour) == (15, 17)
    # The form shows the window in the page's zone, as it takes it.
    shown = client.get(f"/console/incidents/{window.pk}").content.decode()
    assert 'value="2031-07-09T11:00"' in shown and "America/New_York" in shown
    maintenance_rules.start_maintenance(maintenance=window)
    assert b"Reschedule" not in client.get(f"/console/incidents/{window.pk}").content
    started = client.post(
        url, {"scheduled_for": "2031-07-10T15:00", "scheduled_until": "2031-07-10T17:00"}
    )
    assert started.status_code == 400 and b"only a scheduled one can be moved" in started.content


def test_it_edits_an_incidents_details(as_role: Login, incident: Incident) -> None:
    client = as_role("responder")
    url = f"/console/incidents/{incident.pk}/details"
    assert url.encode() in client.get(f"/console/incidents/{incident.pk}").content
    response = client.post(
        url,
        {"name": "Cluster A inbound delays", "reference": "PR-2143", "impact_override": "major"},
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.name, incident.reference, incident.impact_override, incident.impact) == (
        "Cluster A inbound delays",
        "PR-2143",
        "major",
        "major",
    )
    assert AuditEvent.objects.filter(action="incident.update").last().actor == "user:responder"
    client.post(url, {"name": "Cluster A inbound delays", "reference": "", "impact_override": ""})
    incident.refresh_from_db()
    assert (incident.reference, incident.impact_override) == ("", "")
    events = AuditEvent.objects.count()
    for bad in (
        {"name": "  ", "reference": "x"},
        {"name": "N", "impact_override": "huge"},
        {"name": "N", "reference": "R" * 65},
    ):
        refused = client.post(url, bad)
        assert refused.status_code == 400 and b'role="alert"' in refused.content
    assert AuditEvent.objects.count() == events
    incident.refresh_from_db()
    assert incident.name == "Cluster A inbound delays"


def test_it_edits_a_postmortem_that_starts_pre_filled(
    as_role: Login, page: Page, cluster_a: Component
) -> None:
    opened = incidents.open_incident(
        page=page, name="Delays", body="Looking.", components={cluster_a: "degraded_performance"}
    )
    client = as_role("responder")
    url = f"/console/incidents/{opened.pk}/postmortem"
    text = client.get(url).content.decode()
    assert "## Impact" in text and "Timeline of public updates" in text
    client.post(url, {"body": "# Draft", "action": "draft"})
    assert Postmortem.objects.get(incident=opened).body_draft == "# Draft"
    early = client.post(url, {"body": "# Final", "action": "publish"})
    assert early.status_code == 400 and b"resolve the incident" in early.content
    incidents.post_update(
        incident=opened, status="resolved", body="Fixed.", components={cluster_a: "operational"}
    )
    client.post(url, {"body": "# Final", "action": "publish"})
    assert Postmortem.objects.get(incident=opened).is_published
    client.post(url, {"action": "revert"})
    assert not Postmortem.objects.get(incident=opened).is_published


def test_it_manages_components_and_groups(as_role: Login, page: Page) -> None:
    client = as_role("admin")
    client.post("/console/groups/new", {"name": "Webmail", "description": "Browser mail"})
    webmail = page.groups.get(name="Webmail")
    client.post("/console/components/new", {"name": "Cluster B", "group": webmail.pk})
    b = page.components.get(name="Cluster B")
    client.post(
        f"/console/components/{b.pk}",
        {"name": "Cluster B (EU)", "description": "Frankfurt", "group": ""},
    )
    b.refresh_from_db()
    assert (b.name, b.description, b.group_id) == ("Cluster B (EU)", "Frankfurt", None)
    client.post(f"/console/components/{b.pk}/move", {"direction": "up"})
    assert [c.name for c in page.components.order_by("position")][0] == "Cluster B (EU)"
    client.post(f"/console/groups/{webmail.pk}/move", {"direction": "up"})
    assert page.groups.order_by("position").first() == webmail
    client.post(f"/console/components/{b.pk}/delete")
    assert not page.components.filter(pk=b.pk).exists()
    assert AuditEvent.objects.filter(actor="user:admin", action="component.delete").exists()


def test_it_shows_a_new_api_key_once_and_stores_only_its_hash(as_role: Login, page: Page) -> None:
    client = as_role("admin")
    response = client.post(
        "/console/keys", {"name": "deploy-bot", "scope": "read", "page": page.pk}
    )
    html = response.content.decode()
    raw = html.split('id="new-key">')[1].split("<")[0]
    assert raw.startswith("hg_") and "will not be shown again" in html
    key = ApiKey.objects.get(name="deploy-bot")
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert (key.scope, key.page_id) == ("read", page.pk)
    assert raw not in client.get("/console/keys").content.decode()
    client.post(f"/console/keys/{key.pk}/revoke")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_it_lets_the_owner_manage_users(as_role: Login) -> None:
    client = as_role("owner")
    response = client.post("/console/users", {"username": "carol", "role": "responder"})
    assert b"Generated password, shown once" in response.content
    carol = User.objects.get(username="carol")
    assert carol.password.startswith("argon2")
    client.post(f"/console/users/{carol.pk}/role", {"role": "admin"})
    client.post(f"/console/users/{carol.pk}/active", {"active": "0"})
    carol.refresh_from_db()
    assert carol.role == "admin" and not carol.is_active
    owner = User.objects.get(username="owner")
    refused = client.post(f"/console/users/{owner.pk}/role", {"role": "viewer"})
    assert refused.status_code == 400 and b"last active owner" in refused.content


def test_it_filters_the_audit_log(as_role: Login, page: Page) -> None:
    as_role("admin").post("/console/groups/new", {"name": "Webmail"})
    client = as_role("viewer")
    html = client.get("/console/audit?actor=user:admin").content.decode()
    assert "group.create" in html and "incident.create" not in html
    html = client.get("/console/audit?action=incident.&target_type=incident").content.decode()
    assert "incident.create" in html and "group.create" not in html
    html = client.get("/console/audit?since=2031-01-01").content.decode()
    assert "No event matches" in html
    today = timezone.now().date().isoformat()
    assert "group.create" in client.get(f"/console/audit?until={today}").content.decode()


def test_it_switches_between_pages(as_role: Login, page: Page) -> None:
    other = create_page(name="Webmail Inc")
    client = as_role("viewer")
    assert client.get(f"/console/?page={other.pk}").status_code == 302
    assert b"Webmail Inc <span>Console" in client.get("/console/").content
    assert b"Cluster A" not in client.get("/console/components").content


def test_it_starts_an_incident_from_a_template(as_role: Login, page: Page) -> None:
    client = as_role("admin")
    client.post(
        "/console/templates",
        {
            "name": "Delays",
            "title": "Inbound delays",
            "body": "We see delays.",
            "update_status": "identified",
        },
    )
    template = page.incident_templates.get()
    html = client.get(f"/console/incidents/new?template={template.pk}").content.decode()
    assert 'value="Inbound delays"' in html and "We see delays." in html


def test_it_lets_a_viewer_read_but_not_write(as_role: Login, incident: Incident) -> None:
    client = as_role("viewer")
    html = client.get(f"/console/incidents/{incident.pk}").content.decode()
    assert incident.name in html and "Post an update" not in html
    response = client.post(
        f"/console/incidents/{incident.pk}", {"status": "identified", "body": "x"}
    )
    assert response.status_code == 403


def test_it_flags_an_overrun_and_opens_an_incident_for_it(
    as_role: Login, page: Page, cluster_a: Component
) -> None:
    from heliograph.incidents.maintenance import start_maintenance

    began = timezone.now() - timedelta(hours=2)
    window = incidents.schedule_maintenance(
        page=page,
        name="Rspam upgrade",
        body="Upgrading.",
        scheduled_for=began,
        scheduled_until=began + timedelta(hours=1),
        components=[cluster_a],
        at=began - timedelta(days=1),
    )
    start_maintenance(maintenance=window, at=began)
    client = as_role("responder")
    html = client.get("/console/").content.decode()
    assert "Maintenance overran" in html and "Rspam upgrade" in html
    response = client.post(f"/console/maintenance/{window.pk}/overrun")
    opened = Incident.objects.get(caused_by=window)
    assert response["Location"] == f"/console/incidents/{opened.pk}"
    assert f"Incident: {opened.name}" in client.get("/console/").content.decode()


def test_it_shows_statuses_in_words(as_role: Login, cluster_a: Component) -> None:
    as_role("responder").post("/console/incidents/new", open_form(cluster_a))
    html = as_role("viewer").get("/console/").content.decode()
    assert "Partially Degraded Service" in html or "Degraded System Service" in html
    assert "Degraded Performance" in html and "degraded_performance<" not in html
    assert "Investigating" in html


def test_it_edits_an_update_and_keeps_the_old_text(as_role: Login, incident: Incident) -> None:
    update = incident.updates.get(status="resolved")
    old = update.body
    client = as_role("responder")
    response = client.post(f"/console/updates/{update.pk}/edit", {"body": "Resolved for now."})
    assert response.status_code == 302
    update.refresh_from_db()
    assert update.body == "Resolved for now." and update.edited_at is not None
    assert update.revisions.get().body == old
    html = client.get(f"/console/incidents/{incident.pk}").content.decode()
    assert "edited" in html
    empty = client.post(f"/console/updates/{update.pk}/edit", {"body": "  "})
    assert empty.status_code == 400 and update.revisions.count() == 1
