"""A body too large to read: a plain 400 in each part's error shape, and one log line.

Django's own answer names its setting (``DATA_UPLOAD_MAX_MEMORY_SIZE``) and logs an error
with a traceback; a client sending too much is not a bug of ours.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client

from heliograph.accounts.keys import create_key
from heliograph.catalog.models import Page
from heliograph.notify import views

TOO_LARGE = "The request is too large: this server accepts at most 2.5 MB."
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def fresh_rate_limit() -> None:
    views.reset_rate_limit()


def big_form() -> bytes:
    return b"subscriber[email]=" + b"a" * (3 * 2**20) + b"@example.com"


def message_of(response: Any) -> str:
    if response["Content-Type"] == "application/json":
        body = json.loads(response.content)
        return str(body.get("message") or body.get("error"))
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode().strip()


def assert_one_warning(caplog: pytest.LogCaptureFixture, path: str) -> None:
    shown = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(shown) == 1, [r.getMessage() for r in shown]
    assert shown[0].levelno == logging.WARNING
    assert shown[0].exc_info is None and "Traceback" not in caplog.text
    assert path in shown[0].getMessage() and TOO_LARGE in shown[0].getMessage()
    assert "\n" not in shown[0].getMessage()


@pytest.mark.parametrize(
    "path", ["/console/login", "/notify/subscribe", "/api/v2/subscribers.json"]
)
def test_it_refuses_an_oversized_form_with_a_plain_400(
    client: Client, page: Page, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = client.generic("POST", path, big_form(), content_type=FORM)
    assert response.status_code == 400
    assert message_of(response) == TOO_LARGE
    assert "DATA_UPLOAD" not in response.content.decode()
    if path.startswith("/api/"):
        assert json.loads(response.content) == {"error": TOO_LARGE}
        assert response["Access-Control-Allow-Origin"] == "*"
    assert_one_warning(caplog, path)


@pytest.mark.parametrize("content_type", ["application/json", FORM])
def test_it_refuses_an_oversized_manage_api_body_in_its_json_shape(
    client: Client, page: Page, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = create_key(name="bot", scope="write")[1]
    caplog.set_level(logging.INFO)
    path = f"/v1/pages/{page.pk}/incidents"
    body = (
        json.dumps({"incident": {"name": "x" * (3 * 2**20)}}).encode()
        if content_type == "application/json"
        else b"incident[name]=" + b"x" * (3 * 2**20)
    )
    response = client.generic(
        "POST", path, body, content_type=content_type, HTTP_AUTHORIZATION=f"OAuth {key}"
    )
    assert response.status_code == 400
    assert json.loads(response.content) == {"message": TOO_LARGE}
    assert_one_warning(caplog, path)


def test_it_refuses_a_form_with_too_many_fields_in_words(
    client: Client, page: Page, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fields = "&".join(f"component_ids={i}" for i in range(1500))
    response = client.generic("POST", "/notify/subscribe", fields, content_type=FORM)
    assert response.status_code == 400
    text = "The request has too many fields: this server accepts at most 1,000."
    assert message_of(response) == text
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().endswith(text) for r in warnings] == [True]
    assert all(r.exc_info is None for r in caplog.records)
