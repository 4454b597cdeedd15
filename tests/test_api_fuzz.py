"""Schemathesis against /v1/openapi.json of a running server, with a write key.

No generated request may get a server error (5xx), an undocumented status, or a body that
breaks the document's own response schema. Bounded: a few examples per operation, a fixed
seed (derandomize), loopback only, about a minute in all.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.api import new_key, request
from tests.support.live import Server, running_demo, scratch_database

EXAMPLES = 20  # per operation; ~45 operations
BUDGET = 90.0  # seconds for the whole run; operations past it are skipped, with a warning
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # A server of its own (the fuzzer changes and deletes things), and no rate limit in the way.
    before = os.environ.get("HELIOGRAPH_API_RATE")
    os.environ["HELIOGRAPH_API_RATE"] = "1000000"
    try:
        with scratch_database() as url, running_demo(tmp_path_factory.mktemp("fuzz"), url) as srv:
            yield srv
    finally:
        if before is None:
            os.environ.pop("HELIOGRAPH_API_RATE", None)
        else:
            os.environ["HELIOGRAPH_API_RATE"] = before


def real_ids(server: Server, key: str) -> dict[str, str]:
    """Ids that exist, so generated requests reach the services instead of 404s."""
    page = request(server, "GET", "/v1/pages", key)[1][0]["id"]
    comps = request(server, "GET", f"/v1/pages/{page}/components", key)[1]
    incident = request(server, "GET", f"/v1/pages/{page}/incidents", key)[1][0]
    template = {"template": {"name": "Delays", "title": "Mail delays", "body": "Looking"}}
    made = request(server, "POST", f"/v1/pages/{page}/incident_templates", key, template)[1]
    fields = {"email": "fuzz@example.net", "skip_confirmation_notification": True}
    follower = request(
        server,
        "POST",
        f"/v1/pages/{page}/incidents/{incident['id']}/subscribers",
        key,
        {"subscriber": fields},
    )[1]
    # Paused, and aimed at TEST-NET: if the fuzzer resumes it, the probe is refused.
    target = {
        "name": "Fuzz target",
        "kind": "tcp",
        "paused": True,
        "config": {"host": "192.0.2.1", "port": 25},
    }
    monitor = request(server, "POST", f"/v1/pages/{page}/monitors", key, {"monitor": target})[1]
    return {
        "monitor_id": monitor["id"],
        "subscriber_id": follower["id"],  # an incident's subscriber: both kinds of path find it
        "template_id": made["id"],
        "page_id": page,
        "component_id": next(c["id"] for c in comps if not c["group"]),
        "id": next(c["id"] for c in comps if c["group"]),
        "incident_id": incident["id"],
        "incident_update_id": incident["incident_updates"][-1]["id"],
    }


@pytest.mark.timeout(240)
def test_it_survives_schemathesis(fuzz_server: Server) -> None:
    key = new_key(fuzz_server, "fuzzer")
    ids = real_ids(fuzz_server, key)
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/v1/openapi.json")
    headers = {"Authorization": f"OAuth {key}"}
    started, skipped = time.monotonic(), []
    for result in schema.get_all_operations():
        operation = result.ok()
        if time.monotonic() - started > BUDGET:
            skipped.append(operation.label)
            continue
        fuzz(operation, ids, headers, fuzz_server.url)
    if skipped:  # a slow machine: say so rather than fail on time alone
        warnings.warn(f"schemathesis ran out of time before {skipped}", stacklevel=1)


def fuzz(operation: Any, ids: dict[str, str], headers: dict[str, str], base_url: str) -> None:
    # Deleting real rows would leave the rest of the run with nothing but 404s.
    keep_random = operation.method.upper() == "DELETE"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        if not keep_random and case.path_parameters:
            case.path_parameters = {
                name: ids.get(name, value) for name, value in case.path_parameters.items()
            }
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=15)

    run()
