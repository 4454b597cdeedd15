"""The http, tcp, tls_certificate and dns probes against real servers on 127.0.0.1."""

from __future__ import annotations

import time
from typing import Any

import pytest

from heliograph.monitors.probes import common, dns, http, tcp, tls_certificate
from heliograph.monitors.probes.base import FAIL, OK, SLOW, UNKNOWN, ConfigError, Result
from heliograph.monitors.probes.registry import probe_module
from tests.support.probe_servers import (
    DROP,
    REFUSED,
    SERVFAIL,
    Certs,
    Reply,
    dns_server,
    http_server,
    make_certs,
    refused_port,
    run,
    says,
    tcp_server,
    tls_handler,
)

ALLOW = "HELIOGRAPH_ALLOW_PRIVATE_TARGETS"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def test_every_kind_here_keeps_the_contract() -> None:
    for kind in ("http", "tcp", "tls_certificate", "dns", "smtp", "rspamd", "prometheus"):
        module = probe_module(kind)
        assert kind == module.KIND
        assert isinstance(module.SECRET_FIELDS, tuple)
        assert callable(module.check_config) and callable(module.probe)


def test_secrets_are_scrubbed_from_reasons_and_details() -> None:
    result = Result(FAIL, "said hunter22 twice: hunter22", details={"a": ["x hunter22"]})
    clean = common.scrub(result, ["hunter22"])
    assert "hunter22" not in repr(clean)
    assert clean.reason == "said [secret] twice: [secret]"


# --- http -------------------------------------------------------------------------------------


def test_it_http_ok_with_status_body_and_latency() -> None:
    with http_server({"/health": Reply(200, "all systems go")}) as server:
        result = run(http, {"url": server.url("/health"), "expect_body": "systems go"})
    assert result.verdict == OK, result.reason
    assert result.values["status_code"] == 200
    assert 0 < result.values["latency_ms"] < 2000
    assert "200 OK" in result.reason


def test_it_http_wrong_status_fails_and_expected_status_passes() -> None:
    with http_server({"/": Reply(503, "down for maintenance")}) as server:
        failed = run(http, {"url": server.url()})
        accepted = run(http, {"url": server.url(), "expect_status": [200, "5xx"]})
        ranged = run(http, {"url": server.url(), "expect_status": "500-502"})
    assert failed.verdict == FAIL
    assert "503 Service Unavailable" in failed.reason and "expected 2xx" in failed.reason
    assert failed.values["status_code"] == 503
    assert accepted.verdict == OK
    assert ranged.verdict == FAIL and "500-502" in ranged.reason


def test_it_http_body_mismatch_fails() -> None:
    with http_server({"/": Reply(200, '{"status": "degraded"}')}) as server:
        text = run(http, {"url": server.url(), "expect_body": '"ok"'})
        regex = run(http, {"url": server.url(), "expect_body_regex": r'"status":\s*"ok"'})
        matching = run(http, {"url": server.url(), "expect_body_regex": r"degr\w+"})
    assert text.verdict == FAIL and "without the expected text" in text.reason
    assert regex.verdict == FAIL and "does not match" in regex.reason
    assert matching.verdict == OK


def test_it_http_slow_above_threshold() -> None:
    with http_server({"/": Reply(200, "ok", delay=0.05)}) as server:
        result = run(http, {"url": server.url(), "slow_ms": 10})
    assert result.verdict == SLOW
    assert result.values["latency_ms"] >= 10
    assert "slow above 10 ms" in result.reason


def test_it_http_timeout_is_fail_within_the_limit() -> None:
    with http_server({"/": Reply(200, "late", delay=5)}) as server:
        start = time.monotonic()
        result = run(http, {"url": server.url()}, timeout=0.5)
        took = time.monotonic() - start
    assert result.verdict == FAIL
    assert result.reason == "no answer within 0.5 s"
    assert took < 2


def test_it_http_refused_connection_fails() -> None:
    with refused_port() as port:
        result = run(http, {"url": f"http://127.0.0.1:{port}/"})
    assert result.verdict == FAIL
    assert "refused" in result.reason


def test_it_http_follows_redirects_unless_told_not_to() -> None:
    routes = {"/old": Reply(302, headers={"Location": "/new"}), "/new": Reply(200, "moved")}
    with http_server(routes) as server:
        followed = run(http, {"url": server.url("/old"), "expect_body": "moved"})
        stopped = run(http, {"url": server.url("/old"), "follow_redirects": False})
    assert followed.verdict == OK, followed.reason
    assert followed.details["redirected_from"] == [server.url("/old")]
    assert followed.details["url"] == server.url("/new")
    assert stopped.verdict == FAIL and "302" in stopped.reason


def test_it_http_sends_method_headers_body_and_the_secret_header() -> None:
    config = {"method": "post", "body": "ping", "headers": {"X-Probe": "1"}, "expect_status": 201}
    with http_server({"/in": Reply(401, "token hunter2-secret rejected")}) as server:
        result = run(
            http,
            {**config, "url": server.url("/in")},
            secrets={"authorization": "Bearer hunter2-secret", "secret_header": "X-Api-Key: k-7"},
        )
    request = server.seen[0]
    assert (request.method, request.body) == ("POST", b"ping")
    assert request.headers["X-Probe"] == "1"
    assert request.headers["Authorization"] == "Bearer hunter2-secret"
    assert request.headers["X-Api-Key"] == "k-7"
    assert request.headers["Host"] == f"127.0.0.1:{server.port}"
    assert result.verdict == FAIL and "401" in result.reason
    assert "hunter2" not in repr(result)


def test_it_http_private_address_is_unknown_until_allowed() -> None:
    with http_server({"/": Reply(200, "ok")}) as server:
        result = run(http, {"url": server.url()}, allowed=())
    assert result.verdict == UNKNOWN
    assert ALLOW in result.reason and "127.0.0.1" in result.reason
    assert server.seen == []


def test_it_https_checks_the_certificate(certs: Certs) -> None:
    with http_server({"/": Reply(200, "secure")}, tls=certs.context("valid")) as server:
        trusted = run(http, {"url": server.url(), "ca_pem": certs.ca_pem})
        untrusted = run(http, {"url": server.url()})
        unchecked = run(http, {"url": server.url(), "verify_tls": False})
    assert trusted.verdict == OK, trusted.reason
    assert untrusted.verdict == FAIL
    assert "certificate was not accepted" in untrusted.reason
    assert unchecked.verdict == OK


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "url is required"),
        ({"url": "ftp://example.com/"}, "http:// or https://"),
        ({"url": "http://example.com:99999/"}, "bad port"),
        ({"url": "https://x.example", "expect_body_regex": "(unclosed"}, "regular expression"),
        ({"url": "https://x.example", "expect_status": "20"}, "not a status"),
        ({"url": "https://x.example", "expect_status": "299-200"}, "range"),
        ({"url": "https://x.example", "method": "BREW"}, "method must be one of"),
        ({"url": "https://x.example", "method": "HEAD", "expect_body": "x"}, "HEAD"),
        ({"url": "https://x.example", "headers": {"X-A": "1\r\nX-B: 2"}}, "one line"),
        ({"url": "https://x.example", "headers": {"Host": "other"}}, "Host"),
        ({"url": "https://x.example", "slow_ms": -5}, "slow_ms"),
        ({"url": "https://x.example", "slow_ms": "fast"}, "slow_ms must be a number"),
        ({"url": "https://x.example", "verify_tls": "maybe"}, "true or false"),
        ({"url": "https://x.example", "ca_pem": "not a cert"}, "PEM"),
        ({"url": "https://x.example", "timeout_s": 3}, "unknown setting 'timeout_s'"),
    ],
)
def test_http_config_errors_are_clear(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        http.check_config(config)


def test_http_config_defaults() -> None:
    checked = http.check_config({"url": "https://status.example.com/health"})
    assert checked["method"] == "GET" and checked["expect_status"] == "2xx"
    assert checked["slow_ms"] == 2000 and checked["verify_tls"] and checked["follow_redirects"]


def test_it_bad_config_at_run_time_is_unknown() -> None:
    result = run(http, {"url": "gopher://x"})
    assert result.verdict == UNKNOWN and "settings" in result.reason


# --- tcp --------------------------------------------------------------------------------------


def test_it_tcp_connects_and_times_it() -> None:
    with tcp_server(says("hello")) as port:
        result = run(tcp, {"host": "127.0.0.1", "port": port})
        slow = run(tcp, {"host": "127.0.0.1", "port": port, "slow_ms": 0.001})
    assert result.verdict == OK, result.reason
    assert 0 < result.values["latency_ms"] < 1000
    assert slow.verdict == SLOW and "slow above 0.001 ms" in slow.reason


def test_it_tcp_refused_fails() -> None:
    with refused_port() as port:
        result = run(tcp, {"host": "127.0.0.1", "port": port})
    assert result.verdict == FAIL
    assert result.reason == f"127.0.0.1:{port}: the connection was refused"


def test_it_tcp_private_address_is_unknown() -> None:
    with tcp_server(says("hello")) as port:
        result = run(tcp, {"host": "127.0.0.1", "port": port}, allowed=())
    assert result.verdict == UNKNOWN and ALLOW in result.reason


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"port": 80}, "host is required"),
        ({"host": "example.com"}, "port is required"),
        ({"host": "example.com", "port": 0}, "1 to 65535"),
        ({"host": "example.com", "port": 70000}, "1 to 65535"),
        ({"host": "example.com", "port": 8.5}, "1 to 65535"),
        ({"host": "exa mple.com", "port": 80}, "host name or an IP address"),
        ({"host": "http://example.com", "port": 80}, "host name or an IP address"),
    ],
)
def test_tcp_config_errors_are_clear(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tcp.check_config(config)


def test_tcp_config_accepts_ipv6_and_text_ports() -> None:
    assert tcp.check_config({"host": "[::1]", "port": "8080"})["host"] == "::1"
    assert tcp.check_config({"host": "mx1.example.com.", "port": "25"})["port"] == 25


# --- tls_certificate --------------------------------------------------------------------------


def tls(certs: Certs, name: str, **config: Any) -> Result:
    with tcp_server(tls_handler(certs.context(name))) as port:
        return run(tls_certificate, {"host": "127.0.0.1", "port": port, **config})


def test_it_tls_valid_certificate_counts_days(certs: Certs) -> None:
    result = tls(certs, "valid", ca_pem=certs.ca_pem)
    assert result.verdict == OK, result.reason
    assert 29 < result.values["days_left"] <= 30
    assert "expires in 30.0 days" in result.reason or "expires in 29.9 days" in result.reason
    assert "commonName=valid.localhost" in result.details["subject"]
    assert result.details["tls_version"].startswith("TLS")


def test_it_tls_expiring_soon_fails_or_warns(certs: Certs) -> None:
    failing = tls(certs, "soon", ca_pem=certs.ca_pem)
    warning = tls(certs, "soon", ca_pem=certs.ca_pem, fail_days=1)
    assert failing.verdict == FAIL and "under 7 days" in failing.reason
    assert 2 < failing.values["days_left"] <= 3
    assert warning.verdict == SLOW and "under 21 days" in warning.reason


def test_it_tls_expired_certificate_fails(certs: Certs) -> None:
    verified = tls(certs, "expired", ca_pem=certs.ca_pem)
    unverified = tls(certs, "expired", verify=False)
    for result in (verified, unverified):
        assert result.verdict == FAIL
        assert "expired on" in result.reason
        assert result.values["days_left"] < 0


def test_it_tls_untrusted_or_misnamed_certificate_fails(certs: Certs) -> None:
    untrusted = tls(certs, "selfsigned", ca_pem=certs.ca_pem)
    unverified = tls(certs, "selfsigned", verify=False)
    misnamed = tls(certs, "valid", ca_pem=certs.ca_pem, server_name="mail.example.com")
    assert untrusted.verdict == FAIL and "not trusted" in untrusted.reason
    assert untrusted.values["days_left"] > 29  # the dates are still reported
    assert unverified.verdict == OK
    assert misnamed.verdict == FAIL and "mail.example.com" in misnamed.reason
    assert "Hostname mismatch" in misnamed.reason


def test_it_tls_on_a_plain_port_fails() -> None:
    with tcp_server(says("220 not tls")) as port:
        result = run(tls_certificate, {"host": "127.0.0.1", "port": port})
    assert result.verdict == FAIL and "TLS" in result.reason


def test_tls_config_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="fail_days .* must be less than warn_days"):
        tls_certificate.check_config({"host": "example.com", "fail_days": 30})
    with pytest.raises(ConfigError, match="server_name"):
        tls_certificate.check_config({"host": "example.com", "server_name": "a b"})
    assert tls_certificate.check_config({"host": "example.com"})["port"] == 443


def test_certificate_validity_parser_reads_real_certificates(certs: Certs) -> None:
    import ssl

    der = ssl.PEM_cert_to_DER_cert((certs.directory / "soon.pem").read_text())
    not_before, not_after = tls_certificate.validity(der)
    assert 2.9 < (not_after - not_before).total_seconds() / 86400 <= 3.0
    with pytest.raises(ValueError):
        tls_certificate.validity(der[:40])


# --- dns --------------------------------------------------------------------------------------

ZONE = {
    ("mail.example.com", "A"): ["192.0.2.10", "192.0.2.11"],
    ("example.com", "MX"): ["10 mx1.example.com.", "20 mx2.example.com."],
    ("example.com", "TXT"): ['"v=spf1 " "include:_spf.example.com -all"'],
}
SPECIAL = {
    "broken.example.com": SERVFAIL,
    "blackhole.example.com": DROP,
    "closed.example.com": REFUSED,
}


def lookup(server: Any, timeout: float = 2.0, **config: Any) -> Result:
    return run(dns, {"server": server.address, **config}, timeout=timeout)


def test_it_dns_answers_match_expected_set() -> None:
    with dns_server(ZONE, SPECIAL) as server:
        exact = lookup(server, name="mail.example.com", expect=["192.0.2.11", "192.0.2.10"])
        partial = lookup(server, name="mail.example.com", expect="192.0.2.10")
        contains = lookup(server, name="mail.example.com", expect="192.0.2.10", match="contains")
    assert exact.verdict == OK, exact.reason
    assert exact.values["answers"] == 2 and exact.values["latency_ms"] > 0
    assert server.queries[0] == ("mail.example.com.", "A")
    assert partial.verdict == FAIL and "expected 192.0.2.10" in partial.reason
    assert contains.verdict == OK


def test_it_dns_mx_and_txt_compare_as_written_in_a_zone() -> None:
    with dns_server(ZONE, SPECIAL) as server:
        mx = lookup(
            server,
            name="example.com",
            type="mx",
            expect=["10 MX1.example.com", "20 mx2.example.com."],
        )
        txt = lookup(
            server, name="example.com", type="TXT", expect="v=spf1 include:_spf.example.com -all"
        )
        wrong = lookup(server, name="example.com", type="MX", expect="10 mx9.example.com")
    assert mx.verdict == OK, mx.reason
    assert txt.verdict == OK, txt.reason
    assert wrong.verdict == FAIL
    assert "10 mx1.example.com, 20 mx2.example.com" in wrong.reason


def test_it_dns_errors_fail() -> None:
    with dns_server(ZONE, SPECIAL) as server:
        missing = lookup(server, name="nope.example.com")
        broken = lookup(server, name="broken.example.com")
        refused = lookup(server, name="closed.example.com")
        nodata = lookup(server, name="mail.example.com", type="AAAA")
    assert missing.verdict == FAIL and "NXDOMAIN" in missing.reason
    assert broken.verdict == FAIL and "SERVFAIL" in broken.reason
    assert refused.verdict == FAIL and "REFUSED" in refused.reason
    assert nodata.verdict == FAIL and "no AAAA record" in nodata.reason


def test_it_dns_timeout_fails_within_the_limit() -> None:
    with dns_server(ZONE, SPECIAL) as server:
        start = time.monotonic()
        result = lookup(server, name="blackhole.example.com", timeout=0.5)
        took = time.monotonic() - start
    assert result.verdict == FAIL
    assert result.reason.startswith("no answer within 0.5 s")
    assert took < 2


def test_it_dns_slow_and_private_server() -> None:
    with dns_server(ZONE, SPECIAL) as server:
        slow = lookup(server, name="mail.example.com", slow_ms=0.001)
        private = run(dns, {"server": server.address, "name": "mail.example.com"}, allowed=())
    assert slow.verdict == SLOW
    assert private.verdict == UNKNOWN and ALLOW in private.reason
    assert len(server.queries) == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "name is required"),
        ({"name": "example.com", "type": "BOGUS"}, "type must be one of"),
        ({"name": "example.com", "server": "dns.example.com"}, "IP address"),
        ({"name": "example.com", "server": "192.0.2.1:0"}, "bad port"),
        ({"name": "example.com", "match": "fuzzy"}, "match must be one of"),
        ({"name": "example.com", "expect": [1, 2]}, "expect must be"),
        ({"name": "a" * 64 + ".example.com"}, "not a DNS name"),
    ],
)
def test_dns_config_errors_are_clear(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        dns.check_config(config)


def test_dns_config_normalises_servers() -> None:
    assert dns.check_config({"name": "x.org", "server": "192.0.2.1"})["server"] == "192.0.2.1:53"
    server = dns.check_config({"name": "x.org", "server": "[2001:db8::1]:5353"})["server"]
    assert server == "[2001:db8::1]:5353"
