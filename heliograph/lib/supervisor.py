"""Keeps a node's processes running: a child that dies is started again, soon.

``heliograph run`` starts the web server, the publisher and the worker as children and
watches them. A child that exits while the node is not stopping is restarted after a
short pause that doubles while it keeps crashing (0.25 s, 0.5 s, 1 s, … up to 30 s) and
resets once it has stayed up for a while, so one child's crash loop never takes the
others down and never spins the CPU.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("heliograph.supervisor")

FIRST_PAUSE = 0.25
LONGEST_PAUSE = 30.0
STABLE_AFTER = 30.0  # seconds up after which a child's next crash counts as its first
CHECK_EVERY = 0.1
STOP_GRACE = 10.0
REPLACEMENT_WAIT = 15.0


@dataclass
class Child:
    role: str
    argv: list[str]
    env: dict[str, str] | None = None  # None: this process's environment
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float = 0.0
    pause: float = 0.0
    restarts: int = 0
    last_exit: str = ""

    def state(self) -> str:
        return "running" if self.process is not None else "restarting"

    def report(self) -> dict[str, Any]:
        return {"state": self.state(), "restarts": self.restarts, "last_exit": self.last_exit}


@dataclass
class Supervisor:
    children: list[Child]
    on_change: Callable[[dict[str, dict[str, Any]]], None] = lambda report: None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Start every child and keep them running until ``stop`` is set."""
        for child in self.children:
            self._start(child)
        try:
            while not self.stop.wait(CHECK_EVERY):
                for child in self.children:
                    self._check(child, time.monotonic())
                self.on_change(self.report())
        finally:
            self._stop_all()

    def report(self) -> dict[str, dict[str, Any]]:
        return {child.role: child.report() for child in self.children}

    def _check(self, child: Child, now: float) -> None:
        if child.process is not None:
            code = child.process.poll()
            if code is None:
                if child.pause and now - child.started > STABLE_AFTER:
                    child.pause = 0.0
                return
            if self.stop.is_set():
                return
            child.process, child.last_exit = None, describe_exit(code)
            child.pause = min(child.pause * 2 or FIRST_PAUSE, LONGEST_PAUSE)
            child.restart_at = now + child.pause
            log.warning("%s %s; restarting it in %.2f s", child.role, child.last_exit, child.pause)
        if now >= child.restart_at:
            child.restarts += 1
            self._start(child)

    def _start(self, child: Child) -> None:
        try:
            child.process = subprocess.Popen(child.argv, env=child.env)
        except OSError as exc:  # e.g. out of processes: try again after the next pause
            log.error("cannot start %s: %s", child.role, exc)
            child.pause = min(child.pause * 2 or FIRST_PAUSE, LONGEST_PAUSE)
            child.restart_at = time.monotonic() + child.pause
            return
        child.started = time.monotonic()
        if child.restarts:
            log.warning(
                "%s restarted (pid %d, restart %d)", child.role, child.process.pid, child.restarts
            )

    def _stop_all(self) -> None:
        running = [child.process for child in self.children if child.process is not None]
        for process in running:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def exit_with_parent(replaced: Callable[[float], bool] | None = None) -> None:
    """End this process when the one that started it dies (even by SIGKILL), so that a
    restarted supervisor never finds a second publisher or a stray web worker beside it.

    With ``replaced``, linger until it says a successor started after the parent died
    (at most REPLACEMENT_WAIT): a web worker keeps answering until the next one does."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        orphaned = time.time()
        log.warning("parent process %d is gone; exiting once replaced", parent)
        while replaced and not replaced(orphaned) and time.time() - orphaned < REPLACEMENT_WAIT:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"
