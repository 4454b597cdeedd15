"""``mail_roundtrip`` against the real mail path (an aiosmtpd MX relaying into Dovecot).

The thresholds are scaled down (ok 0.5 s, slow 1 s, give up 3 s) so each scenario takes a
few seconds; the rules are the defaults' (60 / 120 / 600 s). The config and verdict tests
at the end need no servers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from heliograph.monitors.probes import mail_roundtrip, rspamd
from heliograph.monitors.probes.base import ConfigError, ProbeSpec, Result
from heliograph.monitors.probes.registry import probe_module
from tests.support.mail_path import DOWN, HEALTHY, JUNK, MailPath, delayed, looping, mail_path
from tests.support.probe_servers import http_server, rspamd_history
from tests.support.probe_servers import run as probe_with

FAST: dict[str, Any] = {
    "ok_seconds": 0.5, "slow_seconds": 1, "give_up_seconds": 3, "poll_seconds": 0.2,
    "duplicate_wait_seconds": 0.6, "healthy_hops": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def shared_path() -> Iterator[MailPath]:
    with mail_path() as path:
        yield path


@pytest.fixture
def path(shared_path: MailPath) -> Iterator[MailPath]:
    shared_path.scenario = HEALTHY
    yield shared_path
    shared_path.wait_idle()  # held or looping messages land, then the next test starts clean
    shared_path.scenario = HEALTHY
    shared_path.clear()


def run(path: MailPath, timeout: float = 10.0, **overrides: Any) -> Result:
    spec = path.spec(timeout=timeout, **{**FAST, **overrides})
    return asyncio.run(mail_roundtrip.probe(spec))


def no_secrets(result: Result, path: MailPath) -> None:
    assert path.password not in repr(result)


# --- the four scenarios -------------------------------------------------------------------


def test_healthy_is_ok_and_leaves_nothing_behind(path: MailPath) -> None:
    result = run(path)
    assert result.verdict == "ok", result.reason
    assert result.reason.startswith("delivered in ")
    assert result.values["delivery_seconds"] < 0.5
    assert result.values["hops"] == 1 and result.values["copies"] == 1
    assert result.values["smtp_ms"] > 0
    assert result.details["folder"] == "INBOX"
    assert result.details["received"][0].startswith("from ")  # our MX's line, unfolded
    assert "mx.heliograph.test" in result.details["received"][0]
    assert result.details["message_id"] == f"<{result.details['token']}@monitor.test>"
    assert result.details["deleted"] == 1
    assert path.canaries() == [] and path.canaries("Junk") == []
    no_secrets(result, path)


def test_delayed_past_slow_is_slow(path: MailPath) -> None:
    path.scenario = delayed(1.6)
    result = run(path)
    assert result.verdict == "slow", result.reason
    assert 1.5 < result.values["delivery_seconds"] < 3
    assert "slow (≥ 1 s)" in result.reason
    assert path.canaries() == []


def test_delayed_between_thresholds_is_hold(path: MailPath) -> None:
    path.scenario = delayed(0.7)
    result = run(path)
    assert result.verdict == "hold", result.reason
    assert 0.5 < result.values["delivery_seconds"] < 1
    assert "above the ok threshold (0.5 s)" in result.reason


def test_in_flight_past_slow_is_slow_when_the_timeout_ends_the_wait(path: MailPath) -> None:
    path.scenario = delayed(3.5)
    result = run(path, timeout=2.5, give_up_seconds=30)  # the monitor's timeout comes first
    assert result.verdict == "slow", result.reason
    assert "not delivered after" in result.reason and "still in flight" in result.reason
    assert result.values["copies"] == 0
    assert 1.0 <= result.values["waited_seconds"] < 2.5
    path.wait_idle()
    assert [m["X-Heliograph-Probe"] for m in path.canaries()] == [result.details["token"]]


def test_looping_is_slow_with_copies_and_hops(path: MailPath) -> None:
    path.scenario = looping(8)
    result = run(path)
    assert result.verdict == "slow", result.reason
    assert result.values["copies"] == 8
    assert result.values["hops"] == 8
    assert "8 copies arrived (a mail loop?)" in result.reason
    assert "8 Received hops, more than the healthy 1 + 5" in result.reason
    assert len(result.details["received"]) == 8
    assert result.details["deleted"] == 8
    assert path.canaries() == []


@pytest.mark.parametrize(
    ("passes", "verdict", "found"),
    [
        (6, "ok", []),  # 6 hops: the healthy 1 + the margin of 5, still fine
        (7, "slow", ["7 Received hops, more than the healthy 1 + 5"]),
    ],
)
def test_it_judges_a_loop_that_lets_one_copy_out_by_its_hops_alone(
    path: MailPath, passes: int, verdict: str, found: list[str]
) -> None:
    path.scenario = looping(passes, each_pass=False)  # one copy, one Received per pass
    delivered = path.relay.delivered
    result = run(path, ok_seconds=2, slow_seconds=3)  # the delivery time cannot decide it
    assert result.verdict == verdict, result.reason
    assert result.values["copies"] == 1 and result.values["hops"] == passes
    assert result.values["delivery_seconds"] < 2
    assert result.reason.split("; ")[1:] == found  # nothing else: not copies, not Junk
    assert len(result.details["received"]) == passes
    assert path.relay.delivered == delivered + 1
    assert result.details["deleted"] == 1 and path.canaries() == []


QUIET = 3.0  # seconds: the loop check's quiet time, scaled down from 2 minutes


def test_it_reports_the_loop_over_within_the_quiet_time_after_it_stops(path: MailPath) -> None:
    """The rspamd loop check reads the scans of the MX the loop ran through: slow while the
    looping Message-ID is still being scanned, ok once it has been quiet for the quiet
    time, though every scan is still inside the 30-minute window."""
    path.scenario = looping(8)
    before = len(path.relay.scans)  # the module's earlier tests looped too
    scans = rspamd_history(lambda: path.relay.scans[before:])
    with http_server({"/history": scans}) as rspamd_:
        config = {
            "url": rspamd_.url(), "mode": "history", "loop_threshold": 3,
            "window_minutes": 30, "quiet_minutes": QUIET / 60,
        }  # fmt: skip
        canary = run(path)  # the canary loops 8 times through the MX, then the loop stops
        looped = canary.details["message_id"]
        path.wait_idle()
        stopped = max(at for at, mid in path.relay.scans if mid == looped)
        during = probe_with(rspamd, config)
        assert during.verdict == "slow", during.reason
        assert f"Message-ID {looped} was scanned 8 times in the last 30 min" in during.reason
        while (after := probe_with(rspamd, config)).verdict != "ok":
            assert time.time() - stopped < QUIET + 2, after.reason
            time.sleep(0.1)
        cleared = time.time() - stopped
    assert QUIET <= cleared < QUIET + 2, cleared
    assert after.reason.startswith(f"the processing loop is over: Message-ID {looped} was")
    assert after.values["looping"] == 0 and after.values["loops_ended"] == 1
    assert after.values["max_scans"] == 8  # still inside the window: the quiet time decided


def test_down_fails_after_give_up(path: MailPath) -> None:
    path.scenario = DOWN
    started = time.monotonic()
    result = run(path)
    assert result.verdict == "fail", result.reason
    assert result.reason == "not delivered within 3.0 s"
    assert 3 <= time.monotonic() - started < 5
    assert result.values["copies"] == 0 and result.values["waited_seconds"] >= 3
    assert path.relay.dropped >= 1


# --- NOOP before each search, as Dovecot saw it ------------------------------------------


def polls(commands: list[str], token: str) -> list[tuple[str, str]]:
    """For each search for ``token``: the folder selected then and the command before it."""
    found, selected = [], ""
    for before, command in zip(["", *commands], commands, strict=False):
        if command.startswith("SELECT "):
            selected = command.removeprefix("SELECT ").strip('"')
        if command.startswith("UID SEARCH ") and f'"{token}"' in command:
            found.append((selected, before))
    return found


def test_it_sends_noop_before_every_search_so_one_selected_inbox_sees_new_mail(
    path: MailPath,
) -> None:
    path.scenario = delayed(0.6)  # a few empty polls first
    with path.imap_commands() as sessions:
        result = run(path, junk_folders=[])  # the inbox only: selected once, never again
    assert result.reason.startswith("delivered in "), result.reason  # found by a later poll
    assert result.values["copies"] == 1 and result.values["delivery_seconds"] >= 0.6
    [commands] = sessions
    seen = polls(commands, result.details["token"])
    assert len(seen) >= 4  # the first look, empty polls, the one that found it, duplicates
    assert seen == [("INBOX", "NOOP")] * len(seen)
    assert [c for c in commands if c.startswith("SELECT ")] == ['SELECT "INBOX"']
    assert commands[-1] == "LOGOUT"
    assert path.password not in "\n".join(commands)


def test_it_sends_noop_before_every_search_in_each_watched_folder(path: MailPath) -> None:
    path.scenario = delayed(0.6)
    with path.imap_commands() as sessions:
        result = run(path)  # INBOX and Junk (auto-detected), selected in turn
    assert result.details["watched"] == ["INBOX", "Junk"]
    [commands] = sessions
    seen = polls(commands, result.details["token"])
    assert len(seen) >= 8
    assert seen == [("INBOX", "NOOP"), ("Junk", "NOOP")] * (len(seen) // 2)


# --- the prober's own faults, the MX's faults ---------------------------------------------


def test_wrong_imap_password_is_unknown_and_sends_nothing(path: MailPath) -> None:
    accepted = path.relay.accepted
    spec = path.spec(**FAST)
    spec = ProbeSpec(spec.config, {"imap_password": "not-it"}, spec.timeout, spec.allowed)
    result = asyncio.run(mail_roundtrip.probe(spec))
    assert result.verdict == "unknown"
    assert (
        result.reason
        == f"IMAP login as {path.user} refused: [AUTHENTICATIONFAILED] Authentication failed."
    )
    assert "not-it" not in repr(result)
    assert path.relay.accepted == accepted


def test_imap_unreachable_is_unknown(path: MailPath) -> None:
    from tests.support.live import free_port

    result = run(path, imap_port=free_port())
    assert result.verdict == "unknown"
    assert result.reason.startswith("could not connect to IMAP 127.0.0.1:")
    assert result.reason.endswith(": the connection was refused")


def test_smtp_unreachable_fails(path: MailPath) -> None:
    from tests.support.live import free_port

    result = run(path, smtp_port=free_port())
    assert result.verdict == "fail"
    assert result.reason.startswith("SMTP 127.0.0.1:") and "refused" in result.reason


def test_loopback_needs_the_operator_allow_list(path: MailPath) -> None:
    spec = path.spec(**FAST)
    result = asyncio.run(mail_roundtrip.probe(ProbeSpec(spec.config, spec.secrets, 5.0, ())))
    assert result.verdict == "unknown"
    assert "HELIOGRAPH_ALLOW_PRIVATE_TARGETS" in result.reason


# --- Junk, cleanup, TLS -------------------------------------------------------------------


def test_junk_arrival_is_slow(path: MailPath) -> None:
    path.scenario = JUNK
    result = run(path)
    assert result.verdict == "slow", result.reason
    assert "delivered to Junk" in result.reason
    assert result.details["folder"] == "Junk"
    assert result.values["copies"] == 1 and result.values["delivery_seconds"] < 0.5
    assert path.canaries("Junk") == []


def test_old_canaries_are_swept_young_ones_kept(path: MailPath) -> None:
    now = int(time.time())
    old, young = f"hgp-{now - 7200}-{'a' * 16}", f"hgp-{now - 60}-{'b' * 16}"
    path.deliver(canary(old))
    path.deliver(canary(old.replace("a", "c")), "Junk")
    path.deliver(canary(young))
    path.deliver(b"Subject: hello\r\n\r\nnot a canary\r\n")
    result = run(path)
    assert result.verdict == "ok", result.reason
    assert result.details["swept"] == 2
    assert [m["X-Heliograph-Probe"] for m in path.canaries()] == [young]
    assert path.canaries("Junk") == []
    assert any(m["Subject"] == "hello" for m in path.messages())
    swept = asyncio.run(mail_roundtrip.probe(path.spec(**FAST, sweep_after_seconds=0)))
    assert swept.details["swept"] == 1  # the young one too
    assert path.canaries() == []
    path.clear()


def test_tls_both_ways_verified_against_the_test_ca(path: MailPath) -> None:
    result = asyncio.run(mail_roundtrip.probe(path.spec(tls=True, **FAST)))
    assert result.verdict == "ok", result.reason
    starttls = asyncio.run(
        mail_roundtrip.probe(path.spec(**FAST, smtp_starttls="require", imap_starttls="require"))
    )
    assert starttls.verdict == "ok", starttls.reason


def test_smtp_login_over_starttls(path: MailPath) -> None:
    result = run(path, smtp_starttls="require", smtp_username=path.smtp_user)
    assert result.verdict == "ok", result.reason
    spec = path.spec(**FAST, smtp_starttls="require", smtp_username=path.smtp_user)
    secrets = {**spec.secrets, "smtp_password": "wrong-one"}
    refused = asyncio.run(mail_roundtrip.probe(ProbeSpec(spec.config, secrets, 5.0, spec.allowed)))
    assert refused.verdict == "unknown"  # the probe's credentials, not the platform
    assert (
        refused.reason.startswith("SMTP 127.0.0.1:")
        and "refused the probe's login (535)" in refused.reason
    )
    assert "wrong-one" not in repr(refused) and path.smtp_password not in repr(result)


def test_untrusted_imap_certificate_is_unknown(path: MailPath) -> None:
    spec = path.spec(tls=True, **FAST)
    config = {k: v for k, v in spec.config.items() if k != "ca_pem"}
    result = asyncio.run(mail_roundtrip.probe(ProbeSpec(config, spec.secrets, 5.0, spec.allowed)))
    assert result.verdict == "unknown"
    assert "certificate" in result.reason


def test_folders_auto_detected_and_missing_ones_reported(path: MailPath) -> None:
    result = run(path)
    assert result.details["watched"] == ["INBOX", "Junk"]  # LIST flags Junk (special-use)
    named = run(path, junk_folders=["Spam", "Junk"])
    assert named.verdict == "ok", named.reason
    assert named.details["watched"] == ["INBOX", "Junk"]
    assert named.details["missing_folders"] == ["Spam"]
    missing = run(path, inbox_folder="Nowhere")
    assert missing.verdict == "unknown"
    assert missing.reason == "IMAP folder 'Nowhere' does not exist"


def test_registered_kind(path: MailPath) -> None:
    module = probe_module("mail_roundtrip")
    assert module.KIND == "mail_roundtrip"
    assert module.SECRET_FIELDS == ("smtp_password", "imap_password")


def canary(token: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"Heliograph mail probe {token}"
    message["X-Heliograph-Probe"] = token
    message.set_content("left behind\n")
    return message


# --- config and verdicts (no servers) -----------------------------------------------------

BASE = {"smtp_host": "mx.example.com", "mail_from": "probe@example.com",
        "mail_to": "canary@example.net", "imap_host": "imap.example.net",
        "imap_username": "canary"}  # fmt: skip


def test_config_defaults() -> None:
    checked = mail_roundtrip.check_config(BASE)
    assert checked["smtp_port"] == 25 and checked["smtp_starttls"] == "if-offered"
    assert checked["imap_port"] == 993 and checked["imap_tls"] is True
    assert checked["junk_folders"] == "auto" and checked["inbox_folder"] == "INBOX"
    assert (checked["ok_seconds"], checked["slow_seconds"], checked["give_up_seconds"]) == (
        60,
        120,
        600,
    )
    assert checked["healthy_hops"] is None and checked["hop_margin"] == 5
    assert checked["poll_seconds"] == 2 and checked["sweep_after_seconds"] == 3600
    assert mail_roundtrip.check_config({**BASE, "smtp_tls": True})["smtp_port"] == 465
    assert mail_roundtrip.check_config({**BASE, "imap_tls": False})["imap_port"] == 143


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"smtp_host": ""}, "smtp_host is required"),
        ({"mail_to": "not an address"}, "mail_to must be a plain address"),
        ({"ok_seconds": 200}, "ok_seconds (200) must be less than slow_seconds"),
        ({"give_up_seconds": 100}, "give_up_seconds must be at least slow_seconds"),
        ({"junk_folders": "Spam"}, 'junk_folders must be "auto" or a list'),
        ({"imap_starttls": "maybe"}, "imap_starttls must be one of"),
        ({"smtp_pasword": "x"}, "unknown setting 'smtp_pasword'"),
        ({"healthy_hops": -1}, "healthy_hops must be"),
    ],
)
def test_config_errors(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mail_roundtrip.check_config({**BASE, **change})


def outcome(delivery: float | None, copies: list[tuple[str, int]], **kw: Any) -> Any:
    headers = [
        (folder, b"".join(b"Received: from a by b; now\r\n" for _ in range(hops)) + b"\r\n")
        for folder, hops in copies
    ]
    fields = {
        "token": "hgp-1-" + "0" * 16,
        "message_id": "<m@x>",
        "smtp_ms": 12.0,
        "waited": delivery or 0,
        "gave_up": False,
        "delivery": delivery,
        "copies": headers,
        "junk_folders": ["Junk"],
    }
    return mail_roundtrip.Outcome(**{**fields, **kw})


@pytest.mark.parametrize(
    ("delivery", "copies", "verdict", "reason"),
    [
        (60, [("INBOX", 3)], "ok", "delivered in 60 s"),
        (61, [("INBOX", 3)], "hold", "delivered in 61 s, above the ok threshold (60 s)"),
        (120, [("INBOX", 3)], "slow", "delivered in 120 s, slow (≥ 120 s)"),
        (5, [("INBOX", 9)], "ok", "delivered in 5.0 s"),
        (5, [("INBOX", 10)], "slow", "10 Received hops, more than the healthy 4 + 5"),
        (5, [("INBOX", 3), ("INBOX", 4)], "slow", "2 copies arrived (a mail loop?)"),
        (5, [("Junk", 3)], "slow", "delivered in 5.0 s; delivered to Junk"),
    ],
)
def test_verdicts_at_default_thresholds(
    delivery: float, copies: list[tuple[str, int]], verdict: str, reason: str
) -> None:
    config = mail_roundtrip.check_config({**BASE, "healthy_hops": 4})
    result = mail_roundtrip.judge(config, outcome(delivery, copies))
    assert result.verdict == verdict
    assert reason in result.reason


@pytest.mark.parametrize(
    ("waited", "gave_up", "verdict", "reason"),
    [
        (600, True, "fail", "not delivered within 600 s"),
        (130, False, "slow", "not delivered after 130 s (still in flight), slow (≥ 120 s)"),
        (90, False, "hold", "not delivered after 90 s (still in flight), above the ok"),
        (20, False, "unknown", "the monitor's timeout ends the wait before ok_seconds"),
    ],
)
def test_undelivered_verdicts(waited: float, gave_up: bool, verdict: str, reason: str) -> None:
    config = mail_roundtrip.check_config(BASE)
    result = mail_roundtrip.judge(config, outcome(None, [], waited=waited, gave_up=gave_up))
    assert (result.verdict, result.values["copies"]) == (verdict, 0)
    assert reason in result.reason


def test_missing_password_is_unknown() -> None:
    result = asyncio.run(mail_roundtrip.probe(ProbeSpec(BASE, {}, 5.0)))
    assert result.verdict == "unknown" and "imap_password" in result.reason
