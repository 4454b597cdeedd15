"""One shared fixture world: the OpenSRS report (page, group, Cluster A, PR-2142)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from django.test import Client

from heliograph.accounts.models import User
from heliograph.catalog.models import Component, Page
from heliograph.example import load_example
from heliograph.incidents.models import Incident
from tests.support.live import RELAY_DOWN, Server, running_demo, scratch_database
from tests.support.world import make_user

POSTGRES_REQUIRED = os.environ.get("HELIOGRAPH_REQUIRE_POSTGRES") == "1"

# Rules are checked for what they decide, not how fast: a busy shared machine must not
# turn a slow example into a failure.
hypothesis.settings.register_profile("heliograph", deadline=None)
hypothesis.settings.load_profile("heliograph")


def pytest_report_header() -> str:
    from django.conf import settings

    return f"heliograph database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"


@pytest.fixture(autouse=True)
def export_dir(settings: Any, tmp_path: Path) -> Path:
    """Each test exports into its own folder, never into the working tree."""
    settings.EXPORT_DIR = tmp_path / "export"
    settings.HELIOGRAPH_SMTP_URL = RELAY_DOWN
    return Path(settings.EXPORT_DIR)


@pytest.fixture
def page(db: None) -> Page:
    return load_example()


@pytest.fixture
def cluster_a(page: Page) -> Component:
    return page.components.get(name="Cluster A")


@pytest.fixture
def incident(page: Page) -> Incident:
    return page.incidents.get(reference="PR-2142")


@pytest.fixture
def as_role(db: None) -> Callable[[str], Client]:
    """A console client logged in as a user with the given role (made on first use)."""

    def login(role: str) -> Client:
        client = Client()
        client.force_login(User.objects.filter(username=role).first() or make_user(role))
        return client

    return login


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL run skips, loudly, when there is no server (unless it is required)."""
    if os.environ.get("HELIOGRAPH_TEST_ON_POSTGRES") != "1":
        return
    problem = _postgres_problem()
    if problem is None:
        return
    if POSTGRES_REQUIRED:
        pytest.exit(f"PostgreSQL is required (HELIOGRAPH_REQUIRE_POSTGRES=1): {problem}", 1)
    marker = pytest.mark.skip(reason=f"PostgreSQL tests skipped: {problem}")
    for item in items:
        item.add_marker(marker)


def _postgres_problem() -> str | None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("postgresql"):
        return "DATABASE_URL is not a PostgreSQL URL"
    try:
        psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"],
            dbname=db["NAME"],
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        return f"cannot connect to PostgreSQL at {db['HOST']}:{db['PORT']} ({exc})"
    return None


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One running ``heliograph demo`` shared by the tests that only read from it."""
    with scratch_database() as url, running_demo(tmp_path_factory.mktemp("demo"), url) as server:
        yield server
