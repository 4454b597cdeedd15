"""The Manage API over real HTTP against a running ``heliograph demo``.

Every write path refuses requests without a key (401) and with a key whose scope or page
does not allow it (403); a responder's flow shows on the public JSON within seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.support.api import new_key, request
from tests.support.live import Server, running_demo, scratch_database, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Our own demo: these tests write, and the shared demo_server must stay as loaded."""
    with scratch_database() as url, running_demo(tmp_path_factory.mktemp("api"), url) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: Server) -> dict[str, str]:
    summary = json.loads(server.get("/api/v2/summary.json")[2])
    page_id = summary["page"]["id"]
    other = server.cli("page", "create", "Elsewhere")
    assert other.returncode == 0, other.stderr
    ids = {c["name"]: c["id"] for c in summary["components"]}
    incidents = json.loads(server.get("/api/v2/incidents.json")[2])["incidents"]
    write = new_key(server, "writer")
    base = f"/v1/pages/{page_id}"
    fields = {"email": "live@example.net", "skip_confirmation_notification": True}
    subscriber = request(server, "POST", f"{base}/subscribers", write, {"subscriber": fields})
    path = f"{base}/incidents/{incidents[0]['id']}/subscribers"
    follower = request(server, "POST", path, write, {"subscriber": fields})
    assert subscriber[0] == follower[0] == 201, (subscriber, follower)
    probe = {
        "name": "Port 25",
        "kind": "tcp",
        "paused": True,
        "config": {"host": "mx.example.net", "port": 25},
    }
    monitor = request(server, "POST", f"{base}/monitors", write, {"monitor": probe})
    assert monitor[0] == 201, monitor
    return {
        "page": page_id,
        "cluster": ids["Cluster A"],
        "group": ids["Hosted Email"],
        "incident": incidents[0]["id"],
        "update": incidents[0]["incident_updates"][0]["id"],
        "subscriber": subscriber[1]["id"],
        "follower": follower[1]["id"],
        "monitor": monitor[1]["id"],
        "write": write,
        "read": new_key(server, "reader", "--scope", "read"),
        "elsewhere": new_key(server, "elsewhere", "--page", "Elsewhere"),
    }


WRITES = [
    ("PATCH", "/v1/pages/{page}"),
    ("PUT", "/v1/pages/{page}"),
    ("POST", "/v1/pages/{page}/components"),
    ("PATCH", "/v1/pages/{page}/components/{cluster}"),
    ("PUT", "/v1/pages/{page}/components/{cluster}"),
    ("DELETE", "/v1/pages/{page}/components/{cluster}"),
    ("POST", "/v1/pages/{page}/component-groups"),
    ("PATCH", "/v1/pages/{page}/component-groups/{group}"),
    ("PUT", "/v1/pages/{page}/component-groups/{group}"),
    ("DELETE", "/v1/pages/{page}/component-groups/{group}"),
    ("POST", "/v1/pages/{page}/incidents"),
    ("PATCH", "/v1/pages/{page}/incidents/{incident}"),
    ("PUT", "/v1/pages/{page}/incidents/{incident}"),
    ("DELETE", "/v1/pages/{page}/incidents/{incident}"),
    ("PATCH", "/v1/pages/{page}/incidents/{incident}/incident_updates/{update}"),
    ("PUT", "/v1/pages/{page}/incidents/{incident}/incident_updates/{update}"),
    ("PUT", "/v1/pages/{page}/incidents/{incident}/postmortem"),
    ("PUT", "/v1/pages/{page}/incidents/{incident}/postmortem/publish"),
    ("PUT", "/v1/pages/{page}/incidents/{incident}/postmortem/revert"),
    ("POST", "/v1/pages/{page}/incident_templates"),
    ("POST", "/v1/pages/{page}/changes"),
    ("POST", "/v1/pages/{page}/incidents/{incident}/reopen"),
    ("PUT", "/v1/pages/{page}/incidents/{incident}/caused_by"),
    ("POST", "/v1/pages/{page}/subscribers"),
    ("PATCH", "/v1/pages/{page}/subscribers/{subscriber}"),
    ("DELETE", "/v1/pages/{page}/subscribers/{subscriber}"),
    ("POST", "/v1/pages/{page}/subscribers/{subscriber}/resend_confirmation"),
    ("POST", "/v1/pages/{page}/subscribers/{subscriber}/rotate_secret"),
    ("POST", "/v1/pages/{page}/subscribers/resend_confirmation"),
    ("POST", "/v1/pages/{page}/subscribers/unsubscribe"),
    ("POST", "/v1/pages/{page}/subscribers/reactivate"),
    ("POST", "/v1/pages/{page}/incidents/{incident}/subscribers"),
    ("DELETE", "/v1/pages/{page}/incidents/{incident}/subscribers/{follower}"),
    ("POST", "/v1/pages/{page}/incidents/{incident}/subscribers/{follower}/resend_confirmation"),
    ("POST", "/v1/pages/{page}/monitors"),
    ("PATCH", "/v1/pages/{page}/monitors/{monitor}"),
    ("DELETE", "/v1/pages/{page}/monitors/{monitor}"),
    ("POST", "/v1/pages/{page}/monitors/{monitor}/run"),
    ("POST", "/v1/pages/{page}/monitors/{monitor}/pause"),
    ("POST", "/v1/pages/{page}/monitors/{monitor}/resume"),
]
READS = [
    "/v1/pages",
    "/v1/pages/{page}",
    "/v1/pages/{page}/components",
    "/v1/pages/{page}/components/{cluster}",
    "/v1/pages/{page}/components/{cluster}/uptime",
    "/v1/pages/{page}/component-groups",
    "/v1/pages/{page}/component-groups/{group}",
    "/v1/pages/{page}/incidents",
    "/v1/pages/{page}/incidents/unresolved",
    "/v1/pages/{page}/incidents/upcoming",
    "/v1/pages/{page}/incidents/scheduled",
    "/v1/pages/{page}/incidents/active_maintenance",
    "/v1/pages/{page}/incidents/{incident}",
    "/v1/pages/{page}/incidents/{incident}/postmortem",
    "/v1/pages/{page}/incidents/{incident}/impact_windows",
    "/v1/pages/{page}/incident_templates",
    "/v1/pages/{page}/changes",
    "/v1/pages/{page}/subscribers",
    "/v1/pages/{page}/subscribers/count",
    "/v1/pages/{page}/subscribers/histogram_by_state",
    "/v1/pages/{page}/subscribers/unsubscribed",
    "/v1/pages/{page}/subscribers/{subscriber}",
    "/v1/pages/{page}/incidents/{incident}/subscribers",
    "/v1/pages/{page}/incidents/{incident}/subscribers/{follower}",
    "/v1/pages/{page}/monitors",
    "/v1/pages/{page}/monitors/{monitor}",
    "/v1/pages/{page}/monitors/{monitor}/results",
]


def test_it_refuses_every_write_without_a_fitting_key(
    server: Server, world: dict[str, str]
) -> None:
    for method, template in WRITES:
        path = template.format(**world)
        body = {"anything": {}}
        assert request(server, method, path, None, body)[0] == 401, (method, path)
        assert request(server, method, path, "hg_wrong", body)[0] == 401, (method, path)
        status, reply, _ = request(server, method, path, world["read"], body)
        assert status == 403 and reply["message"], (method, path)
        status, reply, _ = request(server, method, path, world["elsewhere"], body)
        assert status == 403 and "another page" in reply["message"], (method, path)


def test_it_lets_a_read_key_read_everything(server: Server, world: dict[str, str]) -> None:
    for template in READS:
        path = template.format(**world)
        status, reply, _ = request(server, "GET", path, world["read"])
        assert status == 200, (path, reply)
        assert request(server, "GET", path + ".json", world["read"])[0] == 200, path
        assert request(server, "GET", path)[0] == 401, path
    other = request(server, "GET", "/v1/pages/{page}".format(**world), world["elsewhere"])
    assert other[0] == 403


def test_it_takes_the_key_three_ways(server: Server, world: dict[str, str]) -> None:
    path = f"/v1/pages/{world['page']}"
    assert request(server, "GET", path, world["read"], header="Bearer")[0] == 200
    assert request(server, "GET", f"{path}.json?api_key={quote(world['read'])}")[0] == 200


def test_it_pages_through_lists(server: Server, world: dict[str, str]) -> None:
    path = "/v1/pages/{page}/components?per_page=1&page={n}"
    first = request(server, "GET", path.format(n=1, **world), world["read"])[1]
    second = request(server, "GET", path.format(n=2, **world), world["read"])[1]
    assert len(first) == len(second) == 1 and first[0]["id"] != second[0]["id"]
    everything = request(
        server, "GET", "/v1/pages/{page}/components".format(**world), world["read"]
    )
    beyond = path.format(n=len(everything[1]) + 1, **world)
    assert request(server, "GET", beyond, world["read"])[1] == []


def test_it_answers_errors_as_messages(server: Server, world: dict[str, str]) -> None:
    key = world["write"]
    status, reply, _ = request(
        server, "GET", "/v1/pages/{page}/incidents/nope".format(**world), key
    )
    assert status == 404 and reply["message"]
    assert request(server, "GET", "/v1/pages/nope/components", key)[0] == 404
    path = "/v1/pages/{page}/incidents".format(**world)
    status, reply, _ = request(server, "POST", path, key, {"incident": {"status": "gone"}})
    assert status == 422 and "status" in reply["message"]
    status, reply, _ = request(server, "POST", path, key, form="incident[name]=x&incident[status]=")
    assert status == 422 and reply["message"]
    comp = "/v1/pages/{page}/components".format(**world)
    status, reply, _ = request(server, "POST", comp, key, {"component": {"name": "Cluster A"}})
    assert status == 422 and "already" in reply["message"]
    status, _, headers = request(
        server, "POST", path, key, form="incident[name][x]=1&incident[name]=2"
    )
    assert status in (400, 422)


def test_it_manages_components_and_groups(server: Server, world: dict[str, str]) -> None:
    key, page = world["write"], world["page"]
    form = (
        "component[name]=Cluster+C&component[description]=Third"
        "&component[status]=degraded_performance"
    )
    status, comp, _ = request(server, "POST", f"/v1/pages/{page}/components", key, form=form)
    assert status == 201 and comp["status"] == "degraded_performance" and comp["group_id"] is None
    body = {"component_group": {"name": "Spare", "components": [comp["id"]]}, "description": "x"}
    status, group, _ = request(server, "POST", f"/v1/pages/{page}/component-groups", key, body)
    assert status == 201 and group["components"] == [comp["id"]] and group["description"] == "x"
    path = f"/v1/pages/{page}/components/{comp['id']}.json"
    status, comp, _ = request(
        server, "PATCH", path, key, {"component": {"group_id": None, "status": "operational"}}
    )
    assert status == 200 and comp["group_id"] is None and comp["status"] == "operational"
    assert (
        request(server, "DELETE", f"/v1/pages/{page}/component-groups/{group['id']}", key)[0] == 200
    )
    assert request(server, "DELETE", path, key)[0] == 204
    assert request(server, "GET", path, key)[0] == 404


def test_it_runs_an_incident_end_to_end(server: Server, world: dict[str, str]) -> None:
    key, page, cluster = world["write"], world["page"], world["cluster"]
    form = (
        "incident[name]=Inbound+mail+delays+on+Cluster+A&incident[status]=investigating"
        f"&incident[body]=Mail+is+delayed&incident[components][{cluster}]=partial_outage"
        f"&incident[component_ids][]={cluster}&incident[metadata][jira][issue_id]=OPS-1"
    )
    status, incident, _ = request(server, "POST", f"/v1/pages/{page}/incidents", key, form=form)
    assert status == 201, incident
    assert incident["metadata"] == {"jira": {"issue_id": "OPS-1"}}
    base = f"/v1/pages/{page}/incidents/{incident['id']}"

    def public_shows(status: str) -> bool:
        summary = json.loads(server.get("/api/v2/summary.json")[2])
        mine = [i for i in summary["incidents"] if i["id"] == incident["id"]]
        return status == "gone" if not mine else mine[0]["status"] == status

    assert wait_for(lambda: public_shows("investigating"))
    update = {"incident": {"status": "identified", "body": "A filter loops"}}
    assert request(server, "PATCH", base, key, update)[1]["status"] == "identified"
    resolve = {
        "incident": {
            "status": "resolved",
            "body": "Delivery is back",
            "components": {cluster: "operational"},
        }
    }
    status, resolved, _ = request(server, "PATCH", base + ".json", key, resolve)
    assert status == 200 and resolved["status"] == "resolved" and resolved["warnings"] == []
    assert wait_for(lambda: public_shows("gone"))  # resolved incidents leave the summary

    back = {"incident": {"body": "Delays are back", "components": {cluster: "major_outage"}}}
    status, reopened, _ = request(server, "POST", base + "/reopen", key, back)
    assert status == 200 and reopened["status"] == "investigating", reopened
    assert wait_for(lambda: public_shows("investigating"))
    windows = request(server, "GET", base + "/impact_windows", key)[1]
    assert len(windows["windows"]) == 2 and windows["windows"][-1]["end"] is None
    request(server, "PATCH", base, key, resolve)

    first = resolved["incident_updates"][-1]["id"]
    edit = {"incident_update": {"body": "Mail to Cluster A is delayed"}}
    status, edited, _ = request(server, "PATCH", f"{base}/incident_updates/{first}", key, edit)
    assert status == 200 and edited["body"] == "Mail to Cluster A is delayed"

    draft = {"postmortem": {"body_draft": "A spam filter update looped."}}
    assert request(server, "PUT", base + "/postmortem", key, draft)[0] == 200
    status, published, _ = request(server, "PUT", base + "/postmortem/publish", key, {})
    assert status == 200 and published["published_at"], published
    assert request(server, "GET", base, key)[1]["status"] == "postmortem"
    status, reverted, _ = request(server, "PUT", base + "/postmortem/revert", key)
    assert status == 200 and reverted["published_at"] is None
    assert request(server, "GET", base, key)[1]["status"] == "resolved"


def test_it_records_changes_and_causes(server: Server, world: dict[str, str]) -> None:
    key, page, cluster = world["write"], world["page"], world["cluster"]
    body = {
        "change": {
            "title": "Deploy rspamd 3.9",
            "component_ids": [cluster],
            "source": "deploy",
            "link": "https://ci.example.com/1",
        }
    }
    status, change, _ = request(server, "POST", f"/v1/pages/{page}/changes", key, body)
    assert status == 201 and change["component_ids"] == [cluster]
    base = "/v1/pages/{page}/incidents/{incident}".format(**world)
    status, linked, _ = request(
        server, "PUT", base + "/caused_by", key, {"caused_by": {"id": change["id"]}}
    )
    assert status == 200 and linked["caused_by_id"] == change["id"]
    listed = request(server, "GET", f"/v1/pages/{page}/changes", key)[1]
    assert change["id"] in [c["id"] for c in listed]


def test_it_keeps_templates(server: Server, world: dict[str, str]) -> None:
    key, page = world["write"], world["page"]
    form = (
        "template[name]=Delays&template[title]=Inbound+mail+delays&template[body]=Looking"
        f"&template[component_ids][]={world['cluster']}"
    )
    status, made, _ = request(
        server, "POST", f"/v1/pages/{page}/incident_templates", key, form=form
    )
    assert status == 201 and made["components"][0]["id"] == world["cluster"]
    listed = request(server, "GET", f"/v1/pages/{page}/incident_templates", key)[1]
    assert made["id"] in [t["id"] for t in listed]


def test_it_manages_subscribers(server: Server, world: dict[str, str]) -> None:
    key, base = world["write"], "/v1/pages/{page}/subscribers".format(**world)
    form = f"subscriber[email]=ann@example.net&subscriber[component_ids][]={world['cluster']}"
    status, made, _ = request(server, "POST", base, key, form=form)
    assert status == 201 and made["state"] == "unconfirmed", made
    assert made["components"] == [world["cluster"]]
    listed = request(server, "GET", f"{base}?state=unconfirmed&q=ann", key)[1]
    assert [s["id"] for s in listed] == [made["id"]]
    counted = request(server, "GET", f"{base}/count.json?state=all", key)[1]
    assert counted["email"] >= 2 and counted["sms"] == 0
    status, reply, _ = request(server, "POST", base, key, {"subscriber": {"phone_number": "1"}})
    assert status == 422 and "SMS" in reply["message"]
    status, reply, _ = request(
        server, "POST", f"{base}/unsubscribe", key, form=f"subscribers[]={made['id']}"
    )
    assert status == 201 and reply == {"count": 1}
    gone = request(server, "GET", f"{base}/unsubscribed", key)[1]
    assert made["id"] in [s["id"] for s in gone]


def test_it_serves_its_openapi_document(server: Server) -> None:
    status, _, body = server.get("/v1/openapi.json")
    paths = json.loads(body)["paths"]
    assert (
        status == 200 and "/v1/pages/{page_id}/incidents/{incident_id}/postmortem/publish" in paths
    )
