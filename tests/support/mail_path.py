"""The real mail path for tests: an aiosmtpd "MX" relaying into Debian's Dovecot (IMAP).

``with mail_path() as path:`` starts, on 127.0.0.1 only,

* a private Dovecot (``dovecot -F -c <tmp>/dovecot.conf``, never the system service): one
  user (``path.user`` / ``path.password``), Maildir under the temp dir, IMAP on
  ``path.imap_port`` (plain, STARTTLS offered) and ``path.imaps_port`` (TLS), with a
  throw-away certificate for 127.0.0.1 / localhost whose PEM is ``path.ca_pem``;
* an aiosmtpd MX on ``path.smtp_port`` (STARTTLS offered with the same certificate) that
  prepends a ``Received:`` header to every message and delivers it into the Dovecot
  mailbox (written into the Maildir; Dovecot reports it on the next NOOP) as
  ``path.scenario`` says — switchable at any time:

  ``HEALTHY``       deliver at once
  ``delayed(s)``    hold each message ``s`` seconds, then deliver
  ``looping(n)``    re-inject each message into itself over SMTP until it has passed
                    ``n`` times, delivering a copy per pass (each with one more Received
                    header: the filter loop of the July 2021 Cluster A incident)
  ``looping(n, each_pass=False)``
                    the same loop, but only the last pass is delivered: one copy carrying
                    ``n`` Received headers (a loop that lets the message out in the end)
  ``DOWN``          accept (250) and drop
  ``JUNK``          deliver into the Junk folder

To look and act: ``path.messages(folder)``, ``path.canaries(folder)`` (those with an
``X-Heliograph-Probe`` token), ``path.deliver(message, folder)`` (straight into the
mailbox), ``path.wait_idle()`` (until held/looping messages have landed), ``path.clear()``,
``path.relay.accepted / delivered / dropped / scans``; for the probe, ``path.probe_config()``,
``path.probe_secrets()`` and ``path.spec(timeout=..., **settings)`` (loopback allowed).

What IMAP clients sent, as Dovecot itself received it: ``with path.imap_commands() as
sessions:`` (Dovecot's rawlog of each session after login; the LOGIN command and its
password come before it and are never logged).

Everything stops, and the temp dir goes, when the ``with`` block ends (and Dovecot gets
SIGTERM if the test process dies). Dovecot runs as root here and in CI: the master starts
as root, logins run as ``dovenull``, internal processes as ``dovecot``, and the mailbox
belongs to ``nobody`` (Dovecot refuses uid 0 for mail). As another user every process
runs as that user (not exercised by CI, which is root).
"""

from __future__ import annotations

import contextlib
import ctypes
import email
import email.policy
import grp
import ipaddress
import itertools
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from heliograph.monitors.probes.base import ProbeSpec
from tests.support.live import free_port

MX_NAME = "mx.heliograph.test"
SMTP_USER = "relay-user"
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
DOVECOT_IMAP = Path("/usr/lib/dovecot/imap")


def require_dovecot() -> str:
    """The dovecot path; skips the caller without it (fails when the mail path is required)."""
    path = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")
    if path is None or not DOVECOT_IMAP.exists():
        if os.environ.get("HELIOGRAPH_REQUIRE_MAIL_SERVER") == "1":
            raise RuntimeError(
                "mail path tests are required but Debian's dovecot-imapd is not installed"
            )
        pytest.skip(
            "mail path tests skipped: install Debian's dovecot-imapd", allow_module_level=True
        )
    return path


# --- scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str  # healthy | delayed | looping | down | junk
    seconds: float = 0.0  # delayed: how long each message is held
    passes: int = 1  # looping: passes through the loop (each adds a Received header)
    each_pass: bool = True  # looping: deliver a copy per pass (False: only the last one)


HEALTHY, DOWN, JUNK = Scenario("healthy"), Scenario("down"), Scenario("junk")


def delayed(seconds: float) -> Scenario:
    return Scenario("delayed", seconds=seconds)


def looping(passes: int, *, each_pass: bool = True) -> Scenario:
    return Scenario("looping", passes=passes, each_pass=each_pass)


def _scenario(value: Scenario | str) -> Scenario:
    if isinstance(value, Scenario):
        return value
    named = {s.name: s for s in (HEALTHY, DOWN, JUNK)}
    if value not in named:
        raise ValueError(
            f"scenario {value!r}: use HEALTHY, DOWN, JUNK, delayed(s), looping(n[, each_pass])"
        )
    return named[value]


# --- Dovecot ----------------------------------------------------------------------------------

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = heliograph-test-{port}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests log in wrongly on purpose: no delay, no growing per-IP penalty afterwards.
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
# Each IMAP session's traffic after login, as Dovecot received and sent it (imap_commands).
rawlog_dir = {root}/rawlog
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = .
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
}}
"""


class Dovecot:
    """A private Dovecot with one Maildir user, in ``root`` (stopped by ``stop``)."""

    def __init__(self, binary: str, root: Path, user: str = "probe") -> None:
        self.binary, self.root, self.user = binary, root, user
        self.password = f"pw-{uuid.uuid4().hex[:12]}"
        self.port, self.tls_port = free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count()
        if os.getuid() == 0:  # Dovecot will not run logins or mail as root
            nobody = pwd.getpwnam("nobody")
            self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
            self.internal, self.login = "dovecot", "dovenull"
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.internal = self.login = pwd.getpwuid(self.uid).pw_name

    @property
    def maildir(self) -> Path:
        return self.root / "mail" / self.user

    @property
    def rawlog(self) -> Path:
        return self.root / "rawlog"

    def folder_path(self, folder: str = "INBOX") -> Path:
        return self.maildir if folder.upper() == "INBOX" else self.maildir / f".{folder}"

    def start(self) -> None:
        self._write_files()
        log = (self.root / "dovecot.out").open("wb")
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self._wait_ready()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # the master stops its children
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def log(self) -> str:
        parts = [self.root / "dovecot.out", self.root / "dovecot.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())

    def _write_files(self) -> None:
        (self.root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        for sub in ("run", "state"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.rawlog.mkdir(exist_ok=True)  # written by the imap process, as the mail user
        os.chown(self.rawlog, self.uid, self.gid)
        self.root.chmod(0o755)  # internal users traverse it
        _make_certificate(self.root)
        internal_group = grp.getgrgid(pwd.getpwnam(self.internal).pw_gid).gr_name
        (self.root / "dovecot.conf").write_text(
            CONFIG.format(
                root=self.root,
                port=self.port,
                tls_port=self.tls_port,
                uid=self.uid,
                gid=self.gid,
                internal=self.internal,
                internal_group=internal_group,
                login=self.login,
            )
        )
        for folder in ("INBOX", "Junk"):
            for sub in ("cur", "new", "tmp"):
                (self.folder_path(folder) / sub).mkdir(parents=True, exist_ok=True)
        (self.folder_path("Junk") / "maildirfolder").touch()
        for path in [self.root / "mail", *(self.root / "mail").rglob("*")]:
            os.chown(path, self.uid, self.gid)

    def _wait_ready(self, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited ({self.process.returncode}):\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock,
            ):
                if sock.recv(100).startswith(b"* OK"):
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on 127.0.0.1:{self.port}:\n{self.log()}")

    # --- the mailbox, read and written as files (Dovecot sees changes on NOOP) ---------------

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put one message into ``folder`` the Maildir way: write in tmp/, rename to new/."""
        box = self.folder_path(folder)
        name = f"{time.time_ns()}.P{os.getpid()}Q{next(self._names)}.heliograph-test"
        tmp = box / "tmp" / name
        tmp.write_bytes(raw.replace(b"\r\n", b"\n"))
        os.chown(tmp, self.uid, self.gid)
        os.rename(tmp, box / "new" / name)

    def messages(self, folder: str = "INBOX") -> list[EmailMessage]:
        found = []
        for sub in ("new", "cur"):
            directory = self.folder_path(folder) / sub
            for path in sorted(directory.iterdir()) if directory.exists() else ():
                with contextlib.suppress(FileNotFoundError):  # Dovecot moved or expunged it
                    parsed = email.message_from_bytes(
                        path.read_bytes(), policy=email.policy.default
                    )
                    assert isinstance(parsed, EmailMessage)
                    found.append(parsed)
        return found


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, even by SIGKILL (Linux), so no
    Dovecot outlives a killed test run. (Tied to the thread that started it.)"""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _make_certificate(root: Path) -> None:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(root / "key.pem"),
            "-out",
            str(root / "cert.pem"),
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    (root / "key.pem").chmod(0o600)


# --- the MX -----------------------------------------------------------------------------------


@dataclass
class Relay:
    """aiosmtpd handler: stamp a Received header, then deliver as the scenario says."""

    dovecot: Dovecot
    port: int
    scenario: Scenario = HEALTHY
    accepted: int = 0  # messages taken at DATA (re-injections included)
    delivered: int = 0
    dropped: int = 0
    timers: list[threading.Timer] = field(default_factory=list)
    tasks: set[Any] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    # (unix time, Message-ID) of every message taken, re-injections included: what an rspamd
    # scanning at this MX would list in its /history (probe_servers.rspamd_history serves it)
    scans: list[tuple[float, str]] = field(default_factory=list)
    smtp_password: str = field(default_factory=lambda: f"smtp-{uuid.uuid4().hex[:12]}")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        scenario = self.scenario
        self.accepted += 1
        raw = self._received(session) + (envelope.original_content or envelope.content)
        self.scans.append((time.time(), str(email.message_from_bytes(raw)["Message-ID"])))
        if scenario.name == "down":
            self.dropped += 1
        elif scenario.name == "delayed":
            timer = threading.Timer(scenario.seconds, self._deliver, (raw,))
            timer.daemon = True
            self.timers.append(timer)
            timer.start()
        elif scenario.name == "looping":
            passes = _passes(raw)
            if scenario.each_pass or passes >= scenario.passes:
                self._deliver(raw)
            if passes < scenario.passes:
                task = session.loop.create_task(self._reinject(raw, envelope))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        else:
            self._deliver(raw, "Junk" if scenario.name == "junk" else "INBOX")
        return "250 2.0.0 Ok: queued"

    def _received(self, session: Any) -> bytes:
        peer = session.peer[0] if session.peer else "unknown"
        stamp = format_datetime(datetime.now(UTC))
        line = (
            f"Received: from {session.host_name or 'unknown'} ([{peer}])\r\n"
            f"\tby {MX_NAME} (Heliograph test MX) with ESMTP id {uuid.uuid4().hex[:12]};\r\n"
            f"\t{stamp}\r\n"
        )
        return line.encode("ascii")

    def _deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        self.dovecot.deliver(raw, folder)
        self.delivered += 1

    async def _reinject(self, raw: bytes, envelope: Any) -> None:
        try:
            await aiosmtplib.send(
                raw,
                sender=envelope.mail_from,
                recipients=envelope.rcpt_tos,
                hostname="127.0.0.1",
                port=self.port,
                start_tls=False,
                timeout=10,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:  # e.g. the MX is stopping
            self.errors.append(f"re-injection failed: {exc}")

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        """SMTP AUTH (after STARTTLS) as ``SMTP_USER`` / ``smtp_password``; sending without
        logging in is allowed too, as at an MX."""
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            self.smtp_password.encode(),
        )
        return AuthResult(success=good, handled=False)

    def busy(self) -> bool:
        """Messages still held (delayed) or being re-injected (looping)."""
        return any(timer.is_alive() for timer in self.timers) or bool(self.tasks)

    def stop(self) -> None:
        for timer in self.timers:
            timer.cancel()


def _commands(rawlog: bytes) -> list[str]:
    """The commands in one session's ``.in`` rawlog (``<unix time> <tag> <command>`` a
    line), without the time and the tag."""
    commands = []
    for line in rawlog.decode("utf-8", "replace").splitlines():
        words = line.split(" ", 2)
        if len(words) == 3 and words[0].replace(".", "", 1).isdigit():
            commands.append(words[2])
    return commands


def _passes(raw: bytes) -> int:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return head.count(f"by {MX_NAME} ".encode())


# --- the whole path ---------------------------------------------------------------------------


@dataclass
class MailPath:
    dovecot: Dovecot
    relay: Relay
    smtp_port: int
    address: str = "probe@heliograph.test"

    @property
    def imap_port(self) -> int:
        return self.dovecot.port

    @property
    def imaps_port(self) -> int:
        return self.dovecot.tls_port

    @property
    def user(self) -> str:
        return self.dovecot.user

    @property
    def password(self) -> str:
        return self.dovecot.password

    @property
    def ca_pem(self) -> str:
        return (self.dovecot.root / "cert.pem").read_text()

    @property
    def scenario(self) -> Scenario:
        return self.relay.scenario

    @scenario.setter
    def scenario(self, value: Scenario | str) -> None:
        self.relay.scenario = _scenario(value)

    # --- inspection ---------------------------------------------------------------------

    def messages(self, folder: str = "INBOX") -> list[EmailMessage]:
        return self.dovecot.messages(folder)

    def canaries(self, folder: str = "INBOX") -> list[EmailMessage]:
        """Messages in ``folder`` that carry an X-Heliograph-Probe token."""
        return [m for m in self.messages(folder) if m["X-Heliograph-Probe"]]

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until the MX holds nothing back (delayed or looping messages have landed)."""
        end = time.monotonic() + timeout
        while self.relay.busy():
            if time.monotonic() > end:
                raise TimeoutError(f"the test MX still holds messages after {timeout} s")
            time.sleep(0.05)

    @contextlib.contextmanager
    def imap_commands(self, timeout: float = 5.0) -> Iterator[list[list[str]]]:
        """What IMAP clients sent inside the block, as Dovecot logged it (rawlog): one
        list per session that began in the block, oldest first, each command as sent but
        without its tag (``NOOP``, ``UID SEARCH OR HEADER ...``). Filled in when the block
        ends, once each of those sessions has logged out (at most ``timeout`` seconds)."""
        before = set(self.dovecot.rawlog.glob("*.in"))
        sessions: list[list[str]] = []
        yield sessions
        end = time.monotonic() + timeout
        while True:
            new = sorted(set(self.dovecot.rawlog.glob("*.in")) - before)
            found = [_commands(path.read_bytes()) for path in new]
            if all(commands[-1:] == ["LOGOUT"] for commands in found):
                sessions.extend(found)
                return
            if time.monotonic() > end:
                raise TimeoutError(f"IMAP sessions still open after {timeout} s: {found}")
            time.sleep(0.02)

    def clear(self) -> None:
        """Empty INBOX and Junk (Dovecot notices on its next sync)."""
        for folder in ("INBOX", "Junk"):
            for sub in ("new", "cur"):
                for path in (self.dovecot.folder_path(folder) / sub).iterdir():
                    path.unlink(missing_ok=True)

    def deliver(self, raw: bytes | EmailMessage, folder: str = "INBOX") -> None:
        """Put a message straight into the mailbox (bypassing the MX)."""
        data = raw.as_bytes(policy=email.policy.SMTP) if isinstance(raw, EmailMessage) else raw
        self.dovecot.deliver(data, folder)

    # --- for the mail_roundtrip probe -----------------------------------------------------

    def probe_config(self, *, tls: bool = False, **overrides: Any) -> dict[str, Any]:
        """Settings reaching this path; ``tls``: STARTTLS to the MX, implicit TLS to IMAP,
        both verified against the test certificate."""
        config: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.smtp_port,
            "smtp_starttls": "require" if tls else "no",
            "mail_from": "heliograph@monitor.test",
            "mail_to": self.address,
            "imap_host": "127.0.0.1",
            "imap_port": self.imaps_port if tls else self.imap_port,
            "imap_tls": tls,
            "imap_starttls": "no",
            "imap_username": self.user,
            "ca_pem": self.ca_pem,
        }
        return {**config, **overrides}

    @property
    def smtp_user(self) -> str:
        return SMTP_USER

    @property
    def smtp_password(self) -> str:
        return self.relay.smtp_password

    def probe_secrets(self) -> dict[str, str]:
        """The IMAP password, and the SMTP one (used when ``smtp_username`` is set)."""
        return {"imap_password": self.password, "smtp_password": self.smtp_password}

    def spec(self, *, timeout: float = 10.0, tls: bool = False, **overrides: Any) -> ProbeSpec:
        return ProbeSpec(
            config=self.probe_config(tls=tls, **overrides),
            secrets=self.probe_secrets(),
            timeout=timeout,
            allowed=LOOPBACK,
        )


def server_context(root: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(root / "cert.pem", root / "key.pem")
    return context


@contextlib.contextmanager
def mail_path() -> Iterator[MailPath]:
    """Dovecot + the MX on 127.0.0.1, healthy to begin with; all stopped at the end."""
    binary = require_dovecot()
    root = Path(tempfile.mkdtemp(prefix="hg-mail-"))  # short: Dovecot's sockets live here
    dovecot = Dovecot(binary, root)
    controller: Controller | None = None
    relay = Relay(dovecot, free_port())
    try:
        dovecot.start()
        controller = Controller(
            relay,
            hostname="127.0.0.1",
            port=relay.port,
            tls_context=server_context(root),
            server_hostname=MX_NAME,
            authenticator=relay.authenticate,
        )
        controller.start()
        yield MailPath(dovecot, relay, relay.port)
    finally:
        relay.stop()
        if controller is not None:
            controller.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)
