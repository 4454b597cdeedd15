"""``/api/v2/subscribers.json`` called from another site's script: CORS on every answer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.test import Client

from heliograph.catalog.models import Page
from heliograph.lib import cors
from heliograph.notify import views

API = "/api/v2/subscribers.json"


@pytest.fixture(autouse=True)
def fresh_rate_limit() -> Iterator[None]:
    views.reset_rate_limit()
    yield
    views.reset_rate_limit()


def test_it_answers_a_browsers_preflight(client: Client, page: Page) -> None:
    response = client.options(
        API,
        HTTP_ORIGIN="https://widgets.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, if-none-match",
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"].split(", ")
    allowed = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "authorization", "if-none-match"} <= allowed
    assert response["Access-Control-Max-Age"] == "86400"
    assert response["Access-Control-Max-Age"] == str(cors.MAX_AGE)


def test_it_lets_a_script_read_the_answer_to_a_subscribe(client: Client, page: Page) -> None:
    response = client.post(
        API, {"subscriber[email]": "alice@example.com"}, HTTP_ORIGIN="https://example.com"
    )
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "no-store"
    refused = client.post(API, {"subscriber[email]": "not an address"})
    assert refused.status_code == 422
    assert refused["Access-Control-Allow-Origin"] == "*"
    assert "not a valid e-mail address" in json.loads(refused.content)["error"]


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_it_refuses_other_methods_with_a_json_405(client: Client, page: Page, method: str) -> None:
    response = getattr(client, method)(API)
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert response["Cache-Control"] == "no-store"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "error": f"{method.upper()} is not allowed here: subscribe with POST"
    }
