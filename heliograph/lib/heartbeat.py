"""Heartbeats of a node's processes, kept as small files so /healthz needs no database.

Each process (web, publisher, worker, and ``heliograph run``'s supervisor) rewrites
``<run dir>/<role>-<pid>.json`` every second with its state; the web node reads them all
into memory once a second and reports them.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INTERVAL = 1.0
STALE_AFTER = 5.0  # seconds without a beat: the process is stuck or gone


@dataclass
class Beat:
    """This process's own heartbeat."""

    run_dir: Path
    role: str
    state: str = "starting"
    extra: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    state_of: Callable[[], str] | None = None  # asked at each beat, when given

    @property
    def path(self) -> Path:
        return self.run_dir / f"{self.role}-{os.getpid()}.json"

    def write(self) -> None:
        if self.state_of is not None:
            self.state = self.state_of()
        record = {
            "role": self.role,
            "pid": os.getpid(),
            "state": self.state,
            "started": self.started,
            "beat": time.time(),
            **self.extra,
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, self.path)

    def start(self) -> Beat:
        atexit.register(self.remove)
        threading.Thread(target=self._run, name=f"heartbeat-{self.role}", daemon=True).start()
        return self

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _run(self) -> None:
        failing = False
        while True:
            try:
                self.write()
                failing = False
            except OSError as exc:  # a full disk must not stop the process, only its beat
                if not failing:
                    log.warning("heartbeat: cannot write %s: %s", self.path, exc)
                failing = True
            time.sleep(INTERVAL)


@dataclass
class Board:
    """Every process's last beat, as the web node reports them."""

    run_dir: Path
    records: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> Board:
        threading.Thread(target=self._run, name="heartbeat-board", daemon=True).start()
        return self

    def _run(self) -> None:
        while True:
            self.records = read(self.run_dir)  # a whole-list swap: readers see old or new
            time.sleep(INTERVAL)

    def started_since(self, role: str, moment: float) -> bool:
        """Whether a process of ``role`` started after ``moment`` and beats."""
        return any(r["role"] == role and r["started"] > moment for r in self.records)

    def report(self, now: float) -> list[dict[str, Any]]:
        return describe(self.records, now)


def read(run_dir: Path) -> list[dict[str, Any]]:
    """The records of live processes; files left by dead ones are removed."""
    records = []
    for path in sorted(run_dir.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(path.read_text())
            if _alive(int(record["pid"])):
                records.append(record)
            else:
                path.unlink()
    return records


def describe(records: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """One entry per process; where a supervisor runs them, with its restart count and
    last exit, and an entry for a child it is restarting (no heartbeat yet)."""
    supervised: dict[str, dict[str, Any]] = {}
    for record in records:
        supervised.update(record.get("children", {}))
    processes = [_entry(record, now) for record in records if record["role"] != "supervisor"]
    beating = {entry["role"] for entry in processes}
    processes += [
        {"role": role, "state": child["state"]}
        for role, child in supervised.items()
        if role not in beating
    ]
    for entry in processes:
        if child := supervised.get(entry["role"]):
            entry.update(restarts=child["restarts"], last_exit=child["last_exit"])
    return processes


def _entry(record: dict[str, Any], now: float) -> dict[str, Any]:
    age = max(now - float(record["beat"]), 0.0)
    return {
        "role": record["role"],
        "pid": record["pid"],
        "state": "stale" if age > STALE_AFTER else record["state"],
        "last_heartbeat": _iso(float(record["beat"])),
        "seconds_since_heartbeat": round(age, 1),
    }


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
