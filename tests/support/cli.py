"""A scratch installation driven through the ``heliograph`` command."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any


class Installation:
    """A data folder and database the commands run against, and a way to look inside."""

    def __init__(self, data: Path, database_url: str | None) -> None:
        self.data = data
        self.database_url = database_url
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "HELIOGRAPH_TEST_DB_NAME", "DJANGO_SETTINGS_MODULE")
        }
        self.env["HELIOGRAPH_DATA"] = str(data)
        if database_url:
            self.env["DATABASE_URL"] = database_url

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(SCRIPT), *args],
            cwd=self.data,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        proc = self.start(*args, env=env)
        stdout, stderr = proc.communicate(timeout=60)
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    def json(self, *args: str) -> dict[str, Any]:
        return json.loads(self.ok(*args, "--json"))

    def query(self, sql: str) -> list[tuple]:
        if self.database_url is None:
            with closing(sqlite3.connect(self.data / "heliograph.sqlite3")) as conn:
                return [tuple(row) for row in conn.execute(sql).fetchall()]
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]

    def state(self) -> dict[str, list[tuple]]:
        counts = {table: self.query(f"SELECT COUNT(*) FROM {table}") for table in TABLES}
        return counts | {sql: self.query(sql) for sql in WATCHED}


SCRIPT = Path(sys.executable).with_name("heliograph")


TABLES = [
    "catalog_page",
    "catalog_componentgroup",
    "catalog_component",
    "catalog_statuschange",
    "incidents_incident",
    "incidents_incident_components",
    "incidents_incidentupdate",
    "incidents_postmortem",
]


# What a refused command must leave untouched, besides the row counts.
WATCHED = [
    "SELECT id, version FROM catalog_page ORDER BY id",
    "SELECT id, status FROM catalog_component ORDER BY id",
    "SELECT id, status, resolved_at FROM incidents_incident ORDER BY id",
]
