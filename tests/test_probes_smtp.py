"""The smtp probe against aiosmtpd (with and without TLS) and misbehaving servers, all on
127.0.0.1."""

from __future__ import annotations

import time
from typing import Any

import pytest

from heliograph.monitors.probes import smtp
from heliograph.monitors.probes.base import FAIL, OK, SLOW, UNKNOWN, ConfigError
from tests.support.probe_servers import (
    Certs,
    make_certs,
    refused_port,
    run,
    says,
    silent,
    smtp_server,
    tcp_server,
)

PHASES = {"connect_ms", "banner_ms", "ehlo_ms", "latency_ms"}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def local(port: int, **config: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, **config}


def test_it_smtp_plain_server_banner_and_ehlo() -> None:
    with smtp_server() as port:
        result = run(smtp, local(port, expect_banner="mx.test", ehlo_name="probe.example"))
    assert result.verdict == OK, result.reason
    assert set(result.values) == PHASES
    total = result.values["connect_ms"] + result.values["banner_ms"] + result.values["ehlo_ms"]
    assert result.values["latency_ms"] == pytest.approx(total, abs=0.2)
    assert result.details["banner"].startswith("mx.test")
    assert "STARTTLS" not in result.details["extensions"]


def test_it_smtp_starttls_required_but_not_offered_fails() -> None:
    with smtp_server() as port:
        result = run(smtp, local(port, starttls="require"))
    assert result.verdict == FAIL
    assert "STARTTLS is required but the server does not offer it" in result.reason
    assert {"banner_ms", "ehlo_ms"} <= set(result.values)


def test_it_smtp_starttls_upgrades_and_is_timed(certs: Certs) -> None:
    with smtp_server(starttls=certs.context("valid")) as port:
        result = run(smtp, local(port, starttls="require", ca_pem=certs.ca_pem))
        skipped = run(smtp, local(port, starttls="no"))
    assert result.verdict == OK, result.reason
    assert set(result.values) == PHASES | {"starttls_ms"}
    assert result.details["tls_version"].startswith("TLS")
    assert "over TLS" in result.reason
    assert skipped.verdict == OK and "starttls_ms" not in skipped.values


def test_it_smtp_starttls_with_an_untrusted_certificate_fails(certs: Certs) -> None:
    with smtp_server(starttls=certs.context("selfsigned")) as port:
        checked = run(smtp, local(port, ca_pem=certs.ca_pem))
        unchecked = run(smtp, local(port, verify_tls=False))
    assert checked.verdict == FAIL
    assert "STARTTLS failed: the TLS certificate was not accepted" in checked.reason
    assert unchecked.verdict == OK, unchecked.reason


def test_it_smtp_implicit_tls(certs: Certs) -> None:
    with smtp_server(implicit=certs.context("valid")) as port:
        result = run(smtp, local(port, tls=True, ca_pem=certs.ca_pem))
    assert result.verdict == OK, result.reason
    assert result.details["tls_version"].startswith("TLS")


def test_it_smtp_no_banner_times_out_as_fail() -> None:
    with tcp_server(silent) as port:
        start = time.monotonic()
        result = run(smtp, local(port), timeout=0.5)
        took = time.monotonic() - start
    assert result.verdict == FAIL
    assert result.reason == "no answer within 0.5 s (waiting for the banner)"
    assert "connect_ms" in result.values
    assert took < 2


def test_it_smtp_refusing_banner_fails() -> None:
    with tcp_server(says("554 no service")) as port:
        result = run(smtp, local(port))
    assert result.verdict == FAIL
    assert result.reason == f"127.0.0.1:{port}: the server greeted with 554 no service"
    assert result.details["banner"] == "no service"


def test_it_smtp_multiline_banner_and_refused_ehlo() -> None:
    with tcp_server(says("220-mx.test ESMTP", "220 welcome", "421 too busy")) as port:
        result = run(smtp, local(port))
    assert result.verdict == FAIL
    assert "EHLO was refused: 421 too busy" in result.reason


def test_it_smtp_unexpected_banner_text_fails() -> None:
    with smtp_server() as port:
        result = run(smtp, local(port, expect_banner="Postfix"))
    assert result.verdict == FAIL and "does not contain 'Postfix'" in result.reason


def test_it_smtp_server_hanging_up_fails() -> None:
    def hang_up(conn: Any, stop: Any) -> None:  # greets, reads EHLO, hangs up
        conn.sendall(b"220 hello\r\n")
        conn.recv(1024)

    with tcp_server(hang_up) as port:
        result = run(smtp, local(port))
    assert result.verdict == FAIL
    assert "closed the connection" in result.reason
    assert result.details["banner"] == "hello" and "ehlo_ms" not in result.values


def test_it_smtp_refused_connection_slow_and_private() -> None:
    with refused_port() as port:
        refused = run(smtp, local(port))
    with smtp_server() as port:
        slow = run(smtp, local(port, slow_ms=0.001))
        private = run(smtp, local(port), allowed=())
    assert refused.verdict == FAIL and "refused" in refused.reason
    assert slow.verdict == SLOW and "slow above 0.001 ms" in slow.reason
    assert private.verdict == UNKNOWN and "HELIOGRAPH_ALLOW_PRIVATE_TARGETS" in private.reason


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "host is required"),
        ({"host": "mx.example.com", "port": -1}, "1 to 65535"),
        ({"host": "mx.example.com", "starttls": "always"}, "starttls must be one of"),
        ({"host": "mx.example.com", "ehlo_name": "bad name"}, "ehlo_name"),
        ({"host": "mx.example.com", "tls": "sometimes"}, "true or false"),
        ({"host": "mx.example.com", "password": "x"}, "unknown setting 'password'"),
    ],
)
def test_smtp_config_errors_are_clear(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        smtp.check_config(config)


def test_smtp_config_defaults() -> None:
    checked = smtp.check_config({"host": "mx.example.com"})
    assert (checked["port"], checked["starttls"], checked["tls"]) == (25, "if-offered", False)
    assert smtp.check_config({"host": "mx.example.com", "tls": True})["starttls"] == "no"
