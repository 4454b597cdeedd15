"""The prometheus and rspamd probes against small HTTP servers on 127.0.0.1 that answer
the way Prometheus's query API and rspamd's controller do."""

from __future__ import annotations

import time
from typing import Any

import pytest

from heliograph.monitors.probes import prometheus, rspamd
from heliograph.monitors.probes.base import FAIL, OK, SLOW, UNKNOWN, ConfigError
from tests.probe_servers import Reply, Seen, http_server, refused_port, run

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
    return {"message-id": message_id, "unix_time": at, "time_real": scan, "action": "no action",
            "score": 1.5, "required_score": 15, "symbols": {}, "size": 2048}  # fmt: skip


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


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "url is required"),
        ({"url": "http://rspamd:11334", "mode": "metrics"}, "mode must be one of"),
        ({"url": "http://rspamd:11334", "loop_threshold": 0}, "loop_threshold"),
        ({"url": "http://rspamd:11334", "window_minutes": 0}, "window_minutes"),
    ],
)
def test_rspamd_config_errors_are_clear(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rspamd.check_config(config)
