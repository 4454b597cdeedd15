"""The IMAP side of the mail round trip: find, read and delete canaries.

Plain blocking ``imaplib``; ``mail_roundtrip`` runs every call in a worker thread
(``asyncio.to_thread``), one call at a time per ``Mailbox``. The connection goes to the address the
probe already checked against the operator's allow-list (architecture: Outbound requests), while TLS
still verifies the configured host name.

Canaries carry a token ``hgp-<unix time>-<16 hex>`` in an ``X-Heliograph-Probe`` header
and in the Subject (some filters drop unknown headers); searches match either.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from heliograph.monitors.probes.common import describe

TOKEN_HEADER = "X-Heliograph-Probe"
SUBJECT_PREFIX = "Heliograph mail probe"
TOKEN = re.compile(r"\bhgp-(\d{9,11})-[0-9a-f]{16}\b")
JUNK_NAMES = {"junk", "spam", "junk e-mail", "junk email", "bulk mail"}
_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<delim>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$')


class ImapError(Exception):
    """The IMAP server could not be used: the prober's problem (verdict ``unknown``)."""


class LoginRefused(ImapError):
    """The server answered but refused the probe's credentials."""


@dataclass(frozen=True)
class ImapSettings:
    host: str  # for TLS verification and messages
    address: str  # the checked address actually connected to
    port: int
    tls: bool  # TLS from the first byte (port 993)
    starttls: str  # without tls: "if-offered", "require" or "no"
    context: ssl.SSLContext
    user: str
    password: str = field(repr=False)
    timeout: float = 10.0


class _Plain(imaplib.IMAP4):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        self.address = address
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.address, self.port), timeout)


class _Tls(imaplib.IMAP4_SSL):
    def __init__(
        self, host: str, address: str, port: int, timeout: float, context: ssl.SSLContext
    ) -> None:
        self.address = address
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self.address, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def quote(name: str) -> str:
    """An IMAP quoted string (folder names may hold spaces)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(raw: bytes) -> str:
    text = raw.decode("ascii", "replace")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def junk_folders(listing: Iterable[object]) -> list[str]:
    """Folders a LIST answer marks ``\\Junk`` (RFC 6154) or names like a spam folder."""
    found = []
    for line in listing:
        match = _LIST_LINE.match(line) if isinstance(line, bytes) else None
        if match is None:
            continue
        name = _unquote(match["name"])
        delim = _unquote(match["delim"]) if match["delim"] != b"NIL" else ""
        leaf = name.rsplit(delim, 1)[-1] if delim else name
        if b"\\junk" in match["flags"].lower() or leaf.lower() in JUNK_NAMES:
            found.append(name)
    return found


class Mailbox:
    """One logged-in IMAP session. Methods raise ImapError (or LoginRefused)."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.conn: imaplib.IMAP4 | None = None
        self.selected: str | None = None
        self.missing: set[str] = set()  # folders the server says do not exist
        self.uidplus = False

    # --- session ------------------------------------------------------------------------

    def open(self) -> None:
        s = self.settings
        try:
            self.conn = self._connect()
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"could not connect to IMAP {s.host}:{s.port}: {_say(exc)}") from None
        try:
            self.conn.login(s.user, s.password)
        except imaplib.IMAP4.abort as exc:
            raise ImapError(f"IMAP {s.host}:{s.port} dropped the login: {_say(exc)}") from None
        except imaplib.IMAP4.error as exc:
            raise LoginRefused(f"IMAP login as {s.user} refused: {_say(exc)}") from None
        except OSError as exc:
            raise ImapError(f"IMAP {s.host}:{s.port} failed at login: {_say(exc)}") from None
        typ, data = self._call("CAPABILITY")
        self.uidplus = typ == "OK" and b"UIDPLUS" in b" ".join(_bytes(data)).upper()

    def _connect(self) -> imaplib.IMAP4:
        s = self.settings
        if s.tls:
            return _Tls(s.host, s.address, s.port, s.timeout, s.context)
        conn = _Plain(s.host, s.address, s.port, s.timeout)
        self.conn = conn  # closed by close() if STARTTLS fails
        offered = "STARTTLS" in conn.capabilities
        if s.starttls == "require" and not offered:
            raise ImapError(f"IMAP {s.host}:{s.port} does not offer STARTTLS")
        if offered and s.starttls != "no":
            conn.starttls(s.context)
        return conn

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            with contextlib.suppress(OSError):
                conn.shutdown()

    def list_junk(self) -> list[str]:
        typ, data = self._call("LIST", '""', '"*"')
        return junk_folders(data) if typ == "OK" else []

    # --- canaries -----------------------------------------------------------------------

    def find(self, folders: Sequence[str], token: str) -> dict[str, list[str]]:
        """UIDs of messages carrying ``token``, by folder (NOOP before each SEARCH, so the
        server reports what arrived since the last look)."""
        hits: dict[str, list[str]] = {}
        for folder in folders:
            if not self._select(folder):
                continue
            self._call("NOOP")
            uids = self._search("OR", "HEADER", TOKEN_HEADER, quote(token), "SUBJECT", quote(token))
            if uids:
                hits[folder] = uids
        return hits

    def headers(self, folder: str, uids: Sequence[str]) -> list[bytes]:
        """The raw header block of each message (without marking it seen)."""
        if not uids or not self._select(folder):
            return []
        typ, data = self._call("UID", "FETCH", ",".join(uids), "(BODY.PEEK[HEADER])")
        if typ != "OK":
            return []
        return [part[1] for part in data if isinstance(part, tuple) and len(part) == 2]

    def delete(self, folder: str, uids: Sequence[str]) -> int:
        if not uids or not self._select(folder):
            return 0
        joined = ",".join(uids)
        typ, _ = self._call("UID", "STORE", joined, "+FLAGS.SILENT", "(\\Deleted)")
        if typ != "OK":
            return 0
        if self.uidplus:  # expunge only ours, not what someone else flagged
            self._call("UID", "EXPUNGE", joined)
        else:
            self._call("EXPUNGE")
        return len(uids)

    def sweep(self, folders: Sequence[str], older_than: float) -> int:
        """Delete canaries (any token) sent before ``older_than`` (unix time): leftovers of
        runs that gave up. Younger ones may belong to a run still waiting."""
        swept = 0
        for folder in folders:
            if not self._select(folder):
                continue
            uids = self._search(
                "OR", "HEADER", TOKEN_HEADER, "hgp-", "SUBJECT", quote(SUBJECT_PREFIX + " hgp-")
            )
            old = [uid for uid, sent in self._token_times(uids) if sent < older_than]
            swept += self.delete(folder, old)
        return swept

    # --- plumbing -----------------------------------------------------------------------

    def _token_times(self, uids: Sequence[str]) -> list[tuple[str, float]]:
        if not uids:
            return []
        fields = f"(UID BODY.PEEK[HEADER.FIELDS ({TOKEN_HEADER.upper()} SUBJECT)])"
        typ, data = self._call("UID", "FETCH", ",".join(uids), fields)
        found = []
        for part in data if typ == "OK" else []:
            if not (isinstance(part, tuple) and len(part) == 2):
                continue
            uid = re.search(rb"\bUID (\d+)", part[0])
            token = TOKEN.search(part[1].decode("ascii", "replace"))
            if uid and token:
                found.append((uid[1].decode(), float(token[1])))
        return found

    def _select(self, folder: str) -> bool:
        if folder in self.missing:
            return False
        if self.selected == folder:
            return True
        typ, _ = self._call("SELECT", quote(folder))
        if typ != "OK":
            self.missing.add(folder)
            self.selected = None
            return False
        self.selected = folder
        return True

    def _search(self, *criteria: str) -> list[str]:
        typ, data = self._call("UID", "SEARCH", *criteria)
        if typ != "OK":
            return []
        return [uid.decode() for line in _bytes(data) for uid in line.split()]

    def _call(self, command: str, *args: str) -> tuple[str, list[object]]:
        """Run one command through imaplib's own method (which keeps its state right)."""
        if self.conn is None:
            raise ImapError("IMAP session is closed")
        try:
            typ, data = getattr(self.conn, command.lower())(*args)
        except (OSError, imaplib.IMAP4.error) as exc:
            self.selected = None
            host = f"{self.settings.host}:{self.settings.port}"
            raise ImapError(f"IMAP {host} failed during {command}: {_say(exc)}") from None
        return str(typ), list(data)


def _bytes(data: Iterable[object]) -> list[bytes]:
    return [item for item in data if isinstance(item, bytes)]


def _say(exc: BaseException) -> str:
    """imaplib's errors hold the server's words as ``b'...'``: show just the words."""
    text = describe(exc)
    return re.sub(r"""\bb(['"])(.*?)\1""", r"\2", text)[:300]
