"""Calls to the Manage API: in-process (Django's client) and over HTTP to a live server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from django.test import Client

from tests.support.live import Server


def new_key(server: Server, name: str, *options: str) -> str:
    result = server.cli("apikey", "create", name, *options)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def request(
    server: Server,
    method: str,
    path: str,
    key: str | None = None,
    body: Any = None,
    form: str | None = None,
    header: str = "OAuth",
) -> Reply:
    headers = {"Authorization": f"{header} {key}"} if key else {}
    data = None
    if form is not None:
        data, headers["Content-Type"] = form.encode(), "application/x-www-form-urlencoded"
    elif body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    req = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            raw, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, got = error.read(), error.code, dict(error.headers)
    return status, json.loads(raw) if raw else None, got


def call(
    client: Client, method: str, path: str, key: str | None, body: Any = None, form: str = ""
) -> tuple[int, Any]:
    headers = {"HTTP_AUTHORIZATION": f"OAuth {key}"} if key else {}
    if form:
        response = client.generic(
            method, path, form, content_type="application/x-www-form-urlencoded", **headers
        )
    elif body is not None:
        response = client.generic(
            method, path, json.dumps(body), content_type="application/json", **headers
        )
    else:
        response = client.generic(method, path, **headers)
    data = json.loads(response.content) if response.content else None
    return response.status_code, data


Reply = tuple[int, Any, dict[str, str]]
