"""Base for Heliograph's management commands: bad input is one clear line and exit 1."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from heliograph.lib.errors import InputError


class Error(CommandError):
    """Printed by Django as ``Error: <message>``."""


class HeliographCommand(BaseCommand):
    requires_system_checks: list[str] = []

    def add_json_flag(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except InputError as exc:
            raise Error(str(exc)) from exc
        except DatabaseError as exc:
            raise Error(database_problem(exc)) from exc

    def emit(self, options: dict[str, Any], data: dict[str, Any], text: str) -> None:
        self.stdout.write(json.dumps(data, indent=2) if options.get("json") else text)


def parse_assignments(values: list[str] | None) -> list[tuple[str, str]]:
    """``["Cluster A=degraded_performance"]`` → ``[("Cluster A", "degraded_performance")]``."""
    pairs = []
    for value in values or []:
        name, sep, status = value.rpartition("=")
        if not sep or not name.strip():
            raise InputError(f"write a component status as NAME=STATUS, not {value!r}")
        pairs.append((name.strip(), status.strip()))
    return pairs


def database_problem(exc: DatabaseError) -> str:
    """One line for a database failure: tables missing, server unreachable, or other."""
    from django.db.migrations.executor import MigrationExecutor

    text = str(exc).strip()
    first_line = text.splitlines()[0] if text else type(exc).__name__
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        connection.close()  # a failed statement may have left the session unusable
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        return f"cannot use the database: {first_line}"
    if pending:
        return "the database is not set up (or not up to date); run `heliograph migrate` first"
    return f"database error: {first_line}"
