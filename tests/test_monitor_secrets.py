"""Credentials never ride in a monitor's settings, which the console, the API and the audit
log show: headers or URL query parameters named like one are refused, with a pointer to
the secret that takes them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from heliograph.accounts.keys import create_key
from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Page
from heliograph.lib.errors import InputError
from heliograph.monitors import services
from heliograph.monitors.models import Monitor
from tests.support.api import call

TOKEN = "tok-5f1e0c9a77b2"
SHOWN = "looks like a credential, and settings are shown in the console, the API and the audit log"
USE_THE_SECRET = (
    "give a token as the authorization secret (sent as the Authorization header), or the "
    "whole header as the secret_header secret ('X-Api-Key: …')"
)


def http_monitor(page: Page, **config: Any) -> Monitor:
    config = {"url": "https://api.example.net/health", **config}
    return services.create_monitor(page=page, name="API health", kind="http", config=config)


def nothing_written() -> bool:
    return not Monitor.objects.exists() and TOKEN not in json.dumps(
        list(AuditEvent.objects.values("before", "after"))
    )


@pytest.mark.parametrize(
    "header", ["X-Api-Key", "X-Auth-Token", "apikey", "PRIVATE-TOKEN", "X-Session-Id", "X-Secret"]
)
def test_it_refuses_a_header_named_like_a_credential(page: Page, header: str) -> None:
    with pytest.raises(InputError) as caught:
        http_monitor(page, headers={"Accept": "application/json", header: TOKEN})
    assert str(caught.value) == f"config.headers: {header} {SHOWN}; {USE_THE_SECRET}"
    assert nothing_written()


def test_it_keeps_a_credential_header_as_a_secret_never_shown_back(page: Page) -> None:
    monitor = services.create_monitor(
        page=page,
        name="API health",
        kind="http",
        config={"url": "https://api.example.net/health"},
        secrets={"secret_header": f"X-Api-Key: {TOKEN}"},
    )
    assert services.secret_status(monitor)["secret_header"] == services.SET
    assert TOKEN not in json.dumps(monitor.config) and nothing_shown()
    with pytest.raises(InputError) as caught:
        services.create_monitor(
            page=page,
            name="Bad",
            kind="http",
            config={"url": "https://api.example.net/"},
            secrets={"secret_header": TOKEN},
        )
    assert "'Name: value'" in str(caught.value) and TOKEN not in str(caught.value)


def nothing_shown() -> bool:
    return TOKEN not in json.dumps(list(AuditEvent.objects.values("before", "after")))


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("token=" + TOKEN, "token"),
        ("format=json&api_key=" + TOKEN, "api_key"),
        ("access_token=" + TOKEN, "access_token"),
        ("sv=2024&sig=" + TOKEN, "sig"),  # an Azure SAS link
        ("X-Amz-Signature=" + TOKEN, "X-Amz-Signature"),
    ],
)
def test_it_refuses_a_url_query_parameter_named_like_a_credential(
    page: Page, query: str, name: str
) -> None:
    with pytest.raises(InputError) as caught:
        http_monitor(page, url=f"https://api.example.net/health?{query}")
    message = str(caught.value)
    assert message == f"config.url: the query parameter {name!r} {SHOWN}; {USE_THE_SECRET}"
    assert TOKEN not in message
    assert nothing_written()


def test_it_points_each_kind_to_its_own_secret(page: Page) -> None:
    rspamd = {"url": f"http://rspamd.example.net:11334/?password={TOKEN}"}
    with pytest.raises(InputError, match=re.escape("; give it as the password secret")):
        services.create_monitor(page=page, name="rspamd", kind="rspamd", config=rspamd)
    assert nothing_written()


def test_it_takes_ordinary_headers_and_query_parameters(page: Page) -> None:
    monitor = http_monitor(
        page,
        url="https://search.example.net/?keyword=status&author=ops&page=2",
        headers={"Accept": "text/html", "X-Request-Id": "probe", "User-Agent": "heliograph"},
    )
    assert monitor.config["headers"]["X-Request-Id"] == "probe"
    assert not any(map(services.looks_secret, ["Keep-Alive", "Content-Type", "X-Forwarded-For"]))


def test_it_refuses_an_edit_that_keeps_a_credential_header_from_before(page: Page) -> None:
    # Stored before the rule: the next edit asks for the header to go.
    old = Monitor.objects.create(
        page=page,
        name="API health",
        kind="http",
        config={"url": "https://api.example.net/", "headers": {"X-Api-Key": TOKEN}},
    )
    with pytest.raises(InputError, match="config.headers: X-Api-Key looks like a credential"):
        services.update_monitor(monitor=old, interval_seconds=120)
    cleaned = {"url": "https://api.example.net/"}
    services.update_monitor(monitor=old, config=cleaned, secrets={"authorization": TOKEN})
    old.refresh_from_db()
    assert "X-Api-Key" not in json.dumps(old.config) and old.secrets == {"authorization": TOKEN}


def test_it_answers_the_api_with_the_rule_and_never_echoes_the_value(
    client: Client, page: Page
) -> None:
    key = create_key(name="bot", scope="write")[1]
    body = {
        "monitor": {
            "name": "API health",
            "kind": "http",
            "config": {
                "url": "https://api.example.net/health",
                "headers": {"X-Auth-Token": TOKEN},
            },
        }
    }
    status, answer = call(client, "POST", f"/v1/pages/{page.pk}/monitors", key, body)
    assert status == 422
    assert answer["message"] == f"config.headers: X-Auth-Token {SHOWN}; {USE_THE_SECRET}"
    assert TOKEN not in json.dumps(answer)
    assert nothing_written()
