"""The prometheus and rspamd probes against small HTTP servers on 127.0.0.1 that answer
the way Prometheus's query API and rspamd's controller do."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from heliograph.monitors.probes import prometheus, rspamd
from heliograph.monitors.probes.base import FAIL, OK, SLOW, UNKNOWN, ConfigError
from tests.support.probe_servers import Reply, Seen, http_server, refused_port, run

ALLOW = "HELIOGRAPH_ALLOW_PRIVATE_TARGETS"

# --- prometheus -------------------------------------------------------------------------------


def vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    result = [{"metric": metric, "value": [1785600000.123, value]} for metric, value in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


QUEUE = {"__name__": "postfix_queue_size", "cluster": "a"}


def ask(reply: Reply | Any, timeout: float = 3.0, **config: Any) -> tuple[Any, list[Seen]]:
    with http_server({"/prom/api/v1/query": reply}) as server:
        base = {"url": server.url("/prom/"), "query": "postfix_queue_size"}
        result = run(prometheus, {**base, **config}, timeout=timeout)
    return result, server.seen


def test_it_prometheus_value_against_thresholds() -> None:
    reply = Reply(200, vector((QUEUE, "1500")))
    ok, seen = ask(reply, slow_above=2000, fail_above=10000)
    slow, _ = ask(reply, slow_above=1000, fail_above=10000)
    failed, _ = ask(reply, slow_above=100, fail_above=1000)
    low, _ = ask(reply, fail_below=2000)
    assert seen[0].query == {"query": ["postfix_queue_size"]}
    assert ok.verdict == OK and ok.values == {"value": 1500.0, "series": 1.0}
    assert slow.verdict == SLOW
    assert slow.reason == "postfix_queue_size = 1500, above the slow threshold 1000"
    assert failed.verdict == FAIL and "above the fail threshold 1000" in failed.reason
    assert low.verdict == FAIL and "below the fail threshold 2000" in low.reason


def test_it_prometheus_worst_series_decides() -> None:
    reply = Reply(200, vector((QUEUE, "5"), ({**QUEUE, "cluster": "b"}, "50"), ({}, "NaN")))
    result, _ = ask(reply, slow_above=10, fail_above=100)
    calm, _ = ask(reply, slow_above=1000)
    assert result.verdict == SLOW
    assert result.values == {"value": 50.0, "series": 2.0}
    assert 'postfix_queue_size{cluster="b"} (one of 2 series' in result.reason
    assert calm.verdict == OK and "all 2 series" in calm.reason


def test_it_prometheus_scalar_result() -> None:
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "0.25"]}}
    result, _ = ask(Reply(200, scalar), fail_below=0.5)
    assert result.verdict == FAIL and result.values["value"] == 0.25


def test_it_prometheus_no_data_is_unknown_unless_configured() -> None:
    empty = Reply(200, vector())
    unknown, _ = ask(empty, fail_above=1)
    failed, _ = ask(empty, fail_above=1, no_data="fail")
    assert unknown.verdict == UNKNOWN and "returned no data" in unknown.reason
    assert failed.verdict == FAIL


def test_it_prometheus_errors_are_unknown() -> None:
    bad_query = {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}
    rejected, _ = ask(Reply(400, bad_query))
    garbage, _ = ask(Reply(200, "<html>login</html>"))
    matrix, _ = ask(Reply(200, {"status": "success", "data": {"resultType": "matrix"}}))
    with refused_port() as port:
        down = run(prometheus, {"url": f"http://127.0.0.1:{port}", "query": "up"})
    assert rejected.verdict == UNKNOWN and "parse error at char 5" in rejected.reason
    assert garbage.verdict == UNKNOWN and "not JSON" in garbage.reason
    assert matrix.verdict == UNKNOWN and "matrix" in matrix.reason
    assert down.verdict == UNKNOWN and "refused" in down.reason


def test_it_prometheus_timeout_is_unknown() -> None:
    start = time.monotonic()
    result, _ = ask(Reply(200, vector(), delay=5), timeout=0.5)
    assert result.verdict == UNKNOWN and "within 0.5 s" in result.reason
    assert time.monotonic() - start < 2


def test_it_prometheus_sends_the_secret_and_never_echoes_it() -> None:
    secret = "Bearer prom-token-123"
    with http_server({"/api/v1/query": Reply(200, vector((QUEUE, "1")))}) as server:
        config = {"url": server.url(), "query": "up"}
        result = run(prometheus, config, secrets={"authorization": secret})
        private = run(prometheus, config, allowed=())
    assert server.seen[0].headers["Authorization"] == secret
    assert result.verdict == OK
    assert private.verdict == UNKNOWN and ALLOW in private.reason
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"query": "up"}, "url is required"),
        ({"url": "http://prom:9090"}, "query is required"),
        ({"url": "http://prom:9090", "query": "up", "slow_above": 5, "fail_above": 1}, "less"),
        ({"url": "http://prom:9090", "query": "up", "fail_below": 5, "slow_below": 1}, "less"),
        ({"url": "http://prom:9090", "query": "up", "fail_above": "lots"}, "a number"),
        ({"url": "http://prom:9090", "query": "up", "no_data": "maybe"}, "no_data"),
        ({"url": "http://prom:9090/?x=1", "query": "up"}, "without a \\?query"),
    ],
)
def test_prometheus_config_errors_are_clear(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        prometheus.check_config(config)


# --- rspamd -----------------------------------------------------------------------------------

STAT = {
    "read_only": False, "scanned": 120345, "learned": 2011, "spam_count": 3021,
    "ham_count": 117324, "connections": 120400, "control_connections": 77, "uptime": 86400,
    "actions": {"reject": 2800, "soft reject": 40, "rewrite subject": 0, "add header": 221,
                "greylist": 13, "no action": 117271},
    "scan_times": [0.12, 0.1, 0.14, 0.0],
}  # fmt: skip


def rspamd_reply(reply: Reply, password: str = "s3cret-pass") -> Any:
    """Answers like the controller: 403 unless the Password header matches."""

    def answer(request: Seen) -> Reply:
        if request.headers.get("Password") != password:
            return Reply(403, {"error": f"Unauthorized: wrong password {request.headers}"})
        return reply

    return answer


def controller(path: str, reply: Reply, secrets: dict[str, str] | None = None, **config: Any):
    secrets = {"password": "s3cret-pass"} if secrets is None else secrets
    with http_server({path: rspamd_reply(reply)}) as server:
        return run(rspamd, {"url": server.url(), **config}, secrets=secrets)


def test_it_rspamd_stat_returns_the_counters() -> None:
    result = controller("/stat", Reply(200, STAT))
    assert result.verdict == OK, result.reason
    assert result.values["scanned"] == 120345 and result.values["learned"] == 2011
    assert result.values["action_soft_reject"] == 40
    assert result.values["action_no_action"] == 117271
    assert result.values["scan_time_ms"] == 120.0
    slow = controller("/stat", Reply(200, STAT), scan_slow_ms=100)
    assert slow.verdict == SLOW and "120 ms per scan" in slow.reason


def test_it_rspamd_wrong_password_is_unknown_and_not_echoed() -> None:
    result = controller("/stat", Reply(200, STAT), secrets={"password": "guessed-wrong"})
    assert result.verdict == UNKNOWN and "refused the prober's password" in result.reason
    assert "guessed-wrong" not in repr(result)


def history_row(message_id: str, at: float, scan: float = 0.2) -> dict[str, Any]:
    return {
        "message-id": message_id,
        "unix_time": at,
        "time_real": scan,
        "action": "no action",
        "score": 1.5,
        "required_score": 15,
        "symbols": {},
        "size": 2048,
    }


def test_it_rspamd_history_spots_a_processing_loop() -> None:
    now = time.time()
    looping = [history_row("<loop-1@cluster-a.example>", now - i * 30) for i in range(7)]
    normal = [history_row(f"<m{i}@example.com>", now - i) for i in range(20)]
    old = [history_row("<old@example.com>", now - 7200) for _ in range(9)]
    unnamed = [history_row("undef", now) for _ in range(9)]
    document = {"version": 2, "rows": looping + normal + old + unnamed}
    result = controller("/history", Reply(200, document), mode="history")
    assert result.verdict == SLOW, result.reason
    assert result.reason.startswith(
        "Message-ID <loop-1@cluster-a.example> was scanned 7 times in the last 60 min"
    )
    assert "processing loop" in result.reason
    assert result.values["looping"] == 1 and result.values["max_scans"] == 7
    assert result.values["scans"] == 36 and result.values["messages"] == 21
    assert result.values["scan_time_ms"] == 200.0
    assert result.details["looping"] == {"<loop-1@cluster-a.example>": 7}


def test_it_rspamd_history_without_loops_and_in_the_old_shape() -> None:
    now = time.time()
    rows = [
        {"id": f"<m{i}@example.com>", "unix_time": int(now), "scan_time": 0.05} for i in range(5)
    ] + [{"id": "<twice@example.com>", "unix_time": int(now)}] * 2
    result = controller("/history", Reply(200, rows), mode="history")
    strict = controller("/history", Reply(200, rows), mode="history", loop_threshold=1)
    assert result.verdict == OK and "none more than 3 times" in result.reason
    assert result.values["messages"] == 6 and result.values["scans"] == 7
    assert strict.verdict == SLOW and "<twice@example.com> was scanned 2 times" in strict.reason


def test_it_rspamd_history_says_a_loop_is_over_once_quiet_whatever_the_window() -> None:
    now = time.time()
    # Looped for 10 minutes, stopped 3 minutes ago: all of it inside a 30-minute window.
    stopped = [history_row("<loop-1@cluster-a.example>", now - 180 - i * 30) for i in range(20)]
    other = [history_row("<loop-2@cluster-a.example>", now - 400 - i) for i in range(5)]
    document = {"version": 2, "rows": stopped + other}
    over = controller("/history", Reply(200, document), mode="history", window_minutes=30)
    assert over.verdict == OK, over.reason
    assert over.reason.startswith(
        "the processing loop is over: Message-ID <loop-1@cluster-a.example> (and 1 more "
        "Message-IDs) was scanned 20 times, but none of them again for 3.0 min (quiet after 2 min)"
    )
    assert (over.values["looping"], over.values["loops_ended"]) == (0, 2)
    patient = controller("/history", Reply(200, document), mode="history", quiet_minutes=5)
    assert patient.verdict == SLOW and patient.values["looping"] == 1  # loop-1 only
    going = [*stopped, *other, history_row("<loop-2@cluster-a.example>", now - 5)]
    again = controller("/history", Reply(200, going), mode="history")
    assert (
        again.verdict == SLOW and "<loop-2@cluster-a.example> was scanned 6 times" in again.reason
    )
    assert rspamd.check_config({"url": "http://r:11334"})["quiet_minutes"] == 2.0


def test_it_logs_each_probe_request_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    document = {"version": 2, "rows": [history_row("<m@example.com>", time.time())]}
    with caplog.at_level(logging.INFO):
        assert controller("/history", Reply(200, document), mode="history").verdict == OK
    assert not [r for r in caplog.records if "history" in r.getMessage()]
    with caplog.at_level(logging.DEBUG, logger="heliograph.monitors.probes.common"):
        controller("/history", Reply(200, document), mode="history")
    said = [r for r in caplog.records if r.name == "heliograph.monitors.probes.common"]
    assert [r.levelno for r in said] == [logging.DEBUG]
    assert said[0].getMessage().startswith("probe GET http://127.0.0.1:")
    assert said[0].getMessage().endswith("/history: HTTP 200")


def test_it_rspamd_controller_trouble_fails() -> None:
    broken = controller("/stat", Reply(500, "internal error"))
    garbage = controller("/stat", Reply(200, "<html>"))
    no_rows = controller("/history", Reply(200, {"version": 2}), mode="history")
    with refused_port() as port:
        down = run(rspamd, {"url": f"http://127.0.0.1:{port}"})
    assert broken.verdict == FAIL and "HTTP 500" in broken.reason
    assert garbage.verdict == FAIL and "not JSON" in garbage.reason
    assert no_rows.verdict == FAIL and "without rows" in no_rows.reason
    assert down.verdict == FAIL and "refused" in down.reason


def openmetrics(started: float) -> str:
    """What rspamd 3.x's controller serves at /metrics (src/controller.c), for the same
    counters as STAT."""
    return f"""\
# HELP rspamd_build_info A metric with a constant '1' value labeled by version.
# TYPE rspamd_build_info gauge
rspamd_build_info{{version="3.8.4"}} 1
# HELP rspamd_config A metric with a constant '1' value labeled by id of the current config.
# TYPE rspamd_config gauge
rspamd_config{{id="nzpuz9fm3jk1xncp3q136cudb3qycb7sy"}} 1
# HELP rspamd_scan_time_average Average messages scan time.
# TYPE rspamd_scan_time_average gauge
rspamd_scan_time_average 0.12
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds {started:.0f}
# HELP rspamd_read_only Whether the rspamd instance is read-only.
# TYPE rspamd_read_only gauge
rspamd_read_only 0
# HELP rspamd_scanned_total Scanned messages.
# TYPE rspamd_scanned_total counter
rspamd_scanned_total 120345
# HELP rspamd_learned_total Learned messages.
# TYPE rspamd_learned_total counter
rspamd_learned_total 2011
# HELP rspamd_spam_total Messages classified as spam.
# TYPE rspamd_spam_total counter
rspamd_spam_total 3021
# HELP rspamd_ham_total Messages classified as ham.
# TYPE rspamd_ham_total counter
rspamd_ham_total 117324
# HELP rspamd_connections Active connections.
# TYPE rspamd_connections gauge
rspamd_connections 120400
# HELP rspamd_control_connections_total Control connections.
# TYPE rspamd_control_connections_total counter
rspamd_control_connections_total 77
# HELP rspamd_allocated_bytes Bytes allocated.
# TYPE rspamd_allocated_bytes gauge
rspamd_allocated_bytes 60537276
# HELP rspamd_learns_total Total learns.
# TYPE rspamd_learns_total counter
rspamd_learns_total 9526
# HELP rspamd_actions_total Actions labelled by action type.
# TYPE rspamd_actions_total counter
rspamd_actions_total{{type="reject"}} 2800
rspamd_actions_total{{type="soft reject"}} 40
rspamd_actions_total{{type="rewrite subject"}} 0
rspamd_actions_total{{type="add header"}} 221
rspamd_actions_total{{type="greylist"}} 13
rspamd_actions_total{{type="no action"}} 117271
# HELP rspamd_statfiles_revision Stat files revision.
# TYPE rspamd_statfiles_revision gauge
rspamd_statfiles_revision{{symbol="BAYES_SPAM",type="redis"}} 9429
rspamd_statfiles_revision{{symbol="BAYES_HAM",type="redis"}} 97
# HELP rspamd_fuzzy_stat Fuzzy stat labelled by storage.
# TYPE rspamd_fuzzy_stat gauge
rspamd_fuzzy_stat{{storage="rspamd.com"}} 1768011131
# EOF
"""


OPENMETRICS = {"Content-Type": "application/openmetrics-text; version=1.0.0; charset=utf-8"}


def metrics(body: str | bytes, status: int = 200, **config: Any) -> Any:
    return controller("/metrics", Reply(status, body, OPENMETRICS), mode="metrics", **config)


def test_it_rspamd_metrics_gives_the_stat_names() -> None:
    result = metrics(openmetrics(started=time.time() - 86400))
    by_stat = controller("/stat", Reply(200, STAT))
    assert result.verdict == OK, result.reason
    assert result.reason.endswith("has scanned 120345 messages, 120 ms per scan lately")
    assert result.values.keys() == by_stat.values.keys()  # charts survive a change of mode
    same = {k: v for k, v in result.values.items() if k != "uptime"}
    assert same == {k: v for k, v in by_stat.values.items() if k != "uptime"}
    assert result.values["action_soft_reject"] == 40 and result.values["spam_count"] == 3021
    assert result.values["scan_time_ms"] == 120.0
    assert abs(result.values["uptime"] - 86400) <= 2


def test_it_rspamd_metrics_scan_time_against_scan_slow_ms() -> None:
    body = openmetrics(started=time.time()).replace("average 0.12", "average 0.4")
    slow = metrics(body, scan_slow_ms=250)
    calm = metrics(body, scan_slow_ms=500)
    before_any_scan = metrics(body.replace("average 0.4", "average 0"), scan_slow_ms=250)
    assert slow.verdict == SLOW and "400 ms per scan lately (slow above 250 ms)" in slow.reason
    assert calm.verdict == OK
    assert before_any_scan.verdict == OK and "scan_time_ms" not in before_any_scan.values


def test_it_rspamd_metrics_reads_the_text_format_variants() -> None:
    body = (
        "rspamd_scanned_total 5978 1785600000000\r\n"  # a timestamp, CRLF, no HELP/TYPE
        'rspamd_actions_total{type="add header",note="a \\"quoted\\" }, here"} 12\r\n'
        'rspamd_actions_total{type = "reject" ,} 3 # {trace_id="x"} 1.0\r\n'
        "rspamd_scan_time_average NaN\r\n"
        "rspamd_learned_total +Inf\r\n"
    )
    result = metrics(body)
    assert result.verdict == OK, result.reason
    assert result.values == {"scanned": 5978, "action_add_header": 12, "action_reject": 3}


def test_it_rspamd_metrics_unreadable_answers_fail() -> None:
    html = metrics("<html><body>Rspamd web interface</body></html>")
    json_error = metrics('{"error": "Not found"}')
    binary = metrics(b"\xff\xfe rspamd_scanned_total 1")
    bad_value = metrics("rspamd_scanned_total lots")
    no_scanned = metrics("# HELP rspamd_read_only ...\nrspamd_read_only 0\n# EOF\n")
    broken = metrics("internal error", status=500)
    for result in (html, json_error, binary, bad_value):
        assert result.verdict == FAIL and "not Prometheus text" in result.reason, result
    assert no_scanned.verdict == FAIL and "without rspamd_scanned_total" in no_scanned.reason
    assert broken.verdict == FAIL and "HTTP 500" in broken.reason


def test_it_rspamd_metrics_refused_password_is_unknown() -> None:
    body = openmetrics(started=time.time())
    refused = controller(
        "/metrics", Reply(200, body), secrets={"password": "guessed-wrong"}, mode="metrics"
    )
    assert refused.verdict == UNKNOWN
    assert "refused the prober's password (HTTP 403)" in refused.reason
    assert "guessed-wrong" not in repr(refused)


def test_it_rspamd_config_accepts_the_metrics_mode() -> None:
    checked = rspamd.check_config({"url": "http://rspamd:11334", "mode": "Metrics"})
    assert checked["mode"] == "metrics" and checked["scan_slow_ms"] is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "url is required"),
        ({"url": "http://rspamd:11334", "mode": "graph"}, "mode must be one of"),
        ({"url": "http://rspamd:11334", "loop_threshold": 0}, "loop_threshold"),
        ({"url": "http://rspamd:11334", "window_minutes": 0}, "window_minutes"),
    ],
)
def test_rspamd_config_errors_are_clear(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rspamd.check_config(config)
