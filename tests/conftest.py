"""One shared fixture world: the OpenSRS report (page, group, Cluster A, PR-2142)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from heliograph.catalog.models import Component, Page
from heliograph.example import load_example
from heliograph.incidents.models import Incident

POSTGRES_REQUIRED = os.environ.get("HELIOGRAPH_REQUIRE_POSTGRES") == "1"

# A fixed "now" for rendering, so day-based output does not depend on the clock.
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def pytest_report_header() -> str:
    from django.conf import settings

    return f"heliograph database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"


@pytest.fixture
def page(db: None) -> Page:
    return load_example()


@pytest.fixture
def cluster_a(page: Page) -> Component:
    return page.components.get(name="Cluster A")


@pytest.fixture
def incident(page: Page) -> Incident:
    return page.incidents.get(reference="PR-2142")
