"""Bad input to monitors is a clear refusal — never a traceback, an OverflowError or a 500.

Numbers too large for a float, and JSON or TOML nested deeper than Python's recursion
limit, through each way in: ``heliograph monitors apply``, the services, the Manage API
and the console form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from heliograph.accounts.keys import create_key
from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Page
from heliograph.lib.errors import InputError
from heliograph.monitors import declarative, services
from heliograph.monitors.models import Monitor
from tests.support.api import call
from tests.support.cli import Installation

HUGE = "1" + "0" * 400  # a whole number no float can hold
DEEP = "[" * 100_000  # far past Python's recursion limit
PORT_25 = {"host": "mx.example.net", "port": 25}
TOML_ENTRY = '[[monitor]]\nname = "Port 25"\nkind = "tcp"\n'


def nothing_written() -> bool:
    return (
        not Monitor.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="monitor.").exists()
    )


# --- heliograph monitors apply ------------------------------------------------------------


def test_it_answers_a_huge_number_or_deep_nesting_in_a_file_with_one_error_line(
    tmp_path: Path,
) -> None:
    files = {
        "huge.toml": (TOML_ENTRY + f"timeout = {HUGE}\n", "monitor.timeout: too large a number"),
        "deep.toml": ("a = " + DEEP, "not valid TOML: arrays or tables nested too deeply"),
    }
    heliograph = Installation(tmp_path, None)  # the file is refused before any query
    for name, (text, words) in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = heliograph.run("monitors", "apply", str(path))
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        error, summary = result.stderr.strip().splitlines()
        assert error.startswith(f"{path}: ") and words in error, error
        assert summary == f"Error: 1 error in {path}; nothing changed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TOML_ENTRY + f"timeout = {HUGE}", "monitor.timeout: too large a number (at most 9,007,"),
        (TOML_ENTRY + f"interval = -{HUGE}", "monitor.interval: too large a number"),
        (TOML_ENTRY + "timeout = inf", "monitor.timeout: numbers must be finite"),
        (TOML_ENTRY + "interval = nan", "monitor.interval: numbers must be finite"),
        (TOML_ENTRY + "[monitor.config]\nport = " + HUGE, "monitor.config.port: too large"),
        (TOML_ENTRY + "timeout = 1" + "0" * 5000, "not valid TOML: an unreadable value (Exceeds"),
        ("a = " + DEEP, "not valid TOML: arrays or tables nested too deeply"),
        ("a = " + "{ b = " * 5000, "not valid TOML: arrays or tables nested too deeply"),
    ],
)
def test_it_explains_numbers_and_nesting_no_file_may_hold(
    page: Page, text: str, expected: str
) -> None:
    with pytest.raises(declarative.FileErrors) as caught:
        declarative.plan(text, environ={})
    [error] = caught.value.errors
    assert expected in error
    assert "sys.set_int_max_str_digits" not in error  # advice for programmers, not operators
    assert nothing_written()


# --- the services (what the console and the API call) ------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timeout_seconds": int(HUGE)}, "the timeout must be more than 0 and at most 3600"),
        ({"timeout_seconds": -int(HUGE)}, "the timeout must be more than 0 and at most 3600"),
        ({"timeout_seconds": float("nan")}, "the timeout must be a number of seconds"),
        ({"interval_seconds": int(HUGE)}, "the interval must be a whole number of seconds from"),
        ({"interval_seconds": float("inf")}, "the interval must be a whole number of seconds"),
        ({"config": {**PORT_25, "slow_ms": int(HUGE)}}, "config.slow_ms: too large a number"),
    ],
)
def test_it_refuses_numbers_no_float_can_hold(
    page: Page, fields: dict[str, Any], message: str
) -> None:
    given: dict[str, Any] = {"name": "Port 25", "kind": "tcp", "config": PORT_25, **fields}
    with pytest.raises(InputError, match=re.escape(message)):
        services.create_monitor(page=page, **given)
    assert nothing_written()


# --- the Manage API -------------------------------------------------------------------------


@pytest.fixture
def key(page: Page) -> str:
    return create_key(name="bot", scope="write")[1]


def send(
    client: Client,
    method: str,
    path: str,
    key: str,
    body: str,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    """A raw body, as a client with a bug (or a bad intent) might send it."""
    response = client.generic(
        method, path, body, content_type=content_type, HTTP_AUTHORIZATION=f"OAuth {key}"
    )
    return response.status_code, json.loads(response.content)


def test_it_answers_400_to_a_body_nested_too_deeply(client: Client, page: Page, key: str) -> None:
    deep = '{"monitor": {"name": "x", "kind": "tcp", "config": ' + DEEP
    for content_type in ("application/json", "application/x-www-form-urlencoded"):  # curl -d
        status, answer = send(
            client, "POST", f"/v1/pages/{page.pk}/monitors", key, deep, content_type
        )
        # django-ninja words every body the parser refuses as "Cannot parse request body"
        assert status == 400 and list(answer) == ["message"], answer
        assert "request body" in answer["message"]
    assert nothing_written()


def test_it_answers_422_to_numbers_no_float_can_hold(client: Client, page: Page, key: str) -> None:
    base = f"/v1/pages/{page.pk}/monitors"
    tcp = '{"monitor": {"name": "Port 25", "kind": "tcp", "config": {"host": "mx.example.net"'
    bodies = {
        tcp + f', "port": 25}}, "timeout_seconds": {HUGE}}}}}': "monitor.timeout_seconds: ",
        tcp + f', "port": {HUGE}}}}}}}': "config.port: too large a number",
    }
    for body, words in bodies.items():
        status, answer = send(client, "POST", base, key, body)
        assert status == 422 and words in answer["message"], answer
    assert nothing_written()
    status, made = call(
        client,
        "POST",
        base,
        key,
        {
            "monitor": {
                "name": "Port 25",
                "kind": "tcp",
                "config": PORT_25,
            }
        },
    )
    assert status == 201, made
    patch = f'{{"monitor": {{"interval_seconds": {HUGE}}}}}'
    status, answer = send(client, "PATCH", f"{base}/{made['id']}", key, patch)
    assert status == 422 and "monitor.interval_seconds" in answer["message"], answer


# --- the console ------------------------------------------------------------------------------


def test_it_shows_the_form_again_when_the_settings_are_nested_too_deeply(
    as_role: Callable[[str], Client], page: Page
) -> None:
    response = as_role("admin").post(
        "/console/monitors/new",
        {
            "name": "Port 25",
            "kind": "tcp",
            "component": "",
            "interval_seconds": "60",
            "timeout_seconds": "10",
            "automation": "off",
            "config": '{"host": ' + DEEP,
        },
    )
    assert response.status_code == 400
    assert "not valid JSON (nested too deeply)" in response.content.decode()
    assert nothing_written()
