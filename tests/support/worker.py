"""``heliograph worker`` processes on a scratch database, and reading that database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg


def heliograph(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "heliograph", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def workers(env: dict[str, str], count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    command = [sys.executable, "-m", "heliograph", "worker", "--interval", "0.2"]
    started = [subprocess.Popen(command, env=env, start_new_session=True) for _ in range(count)]
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def query(env: dict[str, str]) -> Callable[[str, list[Any]], list[tuple]]:
    """Read the worker's database directly (no Django in this process touches it)."""
    data_dir = Path(env["HELIOGRAPH_DATA"])

    def run(sql: str, params: list[Any]) -> list[tuple]:
        if "DATABASE_URL" in env:
            with psycopg.connect(env["DATABASE_URL"]) as conn:
                return conn.execute(sql, params).fetchall()
        with closing(sqlite3.connect(data_dir / "heliograph.sqlite3", timeout=20)) as conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()

    return run
