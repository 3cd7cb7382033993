"""verify_health: deadline, backoff and failure detail, with a fake clock and fetch."""

from __future__ import annotations

import http.server
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from probes.health import HealthCheckFailed, verify_health


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedFetch:
    """url -> list of answers ((status, body) or an exception), the last one repeating; each call costs `cost` s."""

    def __init__(self, time: FakeTime, script: dict[str, list[Any]], cost: float = 0.0) -> None:
        self.time = time
        self.script = script
        self.cost = cost
        self.calls: list[tuple[str, float]] = []

    def __call__(self, url: str, read_timeout: float) -> tuple[int, str]:
        self.calls.append((url, read_timeout))
        self.time.now += self.cost
        answers = self.script[url]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def test_returns_at_once_when_every_url_answers_2xx(fake_time: FakeTime) -> None:
    fetch = ScriptedFetch(fake_time, {"http://a/health": [(200, "ok")], "http://b/health": [(204, "")]})
    out = verify_health({"a": "http://a/health", "b": "http://b/health"}, clock=fake_time.clock, sleep=fake_time.sleep, fetch=fetch)
    assert {k: (v.status, v.attempts) for k, v in out.items()} == {"a": (200, 1), "b": (204, 1)}
    assert fake_time.sleeps == []


def test_nothing_is_fetched_when_no_urls() -> None:
    assert verify_health({}, fetch=lambda *_: pytest.fail("no fetch expected")) == {}


def test_polls_with_exponential_backoff_until_healthy_when_service_starts_slowly(fake_time: FakeTime) -> None:
    fetch = ScriptedFetch(
        fake_time,
        {"http://a/h": [requests.exceptions.ConnectionError("refused"), (503, "starting"), (502, ""), (200, "ok")]},
    )
    out = verify_health(
        {"a": "http://a/h"}, timeout=60, interval=1, max_interval=3, clock=fake_time.clock, sleep=fake_time.sleep, fetch=fetch
    )
    assert out["a"].attempts == 4
    assert fake_time.sleeps == [1, 2, 3]
    assert len(fetch.calls) == 4


def test_only_failing_services_are_polled_again_when_some_are_healthy(fake_time: FakeTime) -> None:
    fetch = ScriptedFetch(fake_time, {"http://a/h": [(200, "ok")], "http://b/h": [(500, "x"), (200, "ok")]})
    verify_health({"a": "http://a/h", "b": "http://b/h"}, timeout=60, clock=fake_time.clock, sleep=fake_time.sleep, fetch=fetch)
    assert [u for u, _ in fetch.calls] == ["http://a/h", "http://b/h", "http://b/h"]


def test_raises_naming_service_url_and_last_answer_when_deadline_passes(fake_time: FakeTime) -> None:
    body = "upstream not ready " + "x" * 500
    fetch = ScriptedFetch(fake_time, {"http://a/h": [(200, "ok")], "http://b/health": [(503, body)]})
    with pytest.raises(HealthCheckFailed) as info:
        verify_health(
            {"a": "http://a/h", "b": "http://b/health"}, timeout=10, interval=1, clock=fake_time.clock, sleep=fake_time.sleep, fetch=fetch
        )
    err = info.value
    assert (err.service, err.url, err.last_status) == ("b", "http://b/health", 503)
    assert err.last_body == body[:200]
    assert str(err).startswith("health check failed after 10s: b: GET http://b/health -> HTTP 503 'upstream not ready xxx")
    assert "attempts)" in str(err) and "a:" not in str(err)
    assert fake_time.now == pytest.approx(10)
    assert sum(fake_time.sleeps) == pytest.approx(10)


def test_reports_connection_error_when_service_never_answers(fake_time: FakeTime) -> None:
    fetch = ScriptedFetch(fake_time, {"http://a/h": [requests.exceptions.ConnectTimeout("x")]})
    with pytest.raises(HealthCheckFailed, match=r"a: GET http://a/h -> timed out connecting \(\d+ attempts\)") as info:
        verify_health({"a": "http://a/h"}, timeout=5, clock=fake_time.clock, sleep=fake_time.sleep, fetch=fetch)
    assert info.value.last_status is None and info.value.last_error == "timed out connecting"


def test_request_timeout_is_cut_to_time_left_when_deadline_is_near(fake_time: FakeTime) -> None:
    fetch = ScriptedFetch(fake_time, {"http://a/h": [(500, "")]}, cost=3.0)
    with pytest.raises(HealthCheckFailed):
        verify_health(
            {"a": "http://a/h"}, timeout=8, interval=1, request_timeout=10, clock=fake_time.clock, sleep=fake_time.sleep, fetch=fetch
        )
    timeouts = [t for _, t in fetch.calls]
    assert timeouts[0] == 8 and all(t <= 8 for t in timeouts) and timeouts == sorted(timeouts, reverse=True)


def test_each_url_is_tried_once_when_timeout_is_zero(fake_time: FakeTime) -> None:
    fetch = ScriptedFetch(fake_time, {"http://a/h": [(503, "")], "http://b/h": [(503, "")]}, cost=1.0)
    with pytest.raises(HealthCheckFailed) as info:
        verify_health({"a": "http://a/h", "b": "http://b/h"}, timeout=0, clock=fake_time.clock, sleep=fake_time.sleep, fetch=fetch)
    assert len(fetch.calls) == 2 and [f.service for f in info.value.failures] == ["a", "b"]


def test_secrets_are_redacted_when_a_body_echoes_them(fake_time: FakeTime) -> None:
    secret = secrets.token_hex(10)
    fetch = ScriptedFetch(fake_time, {"http://a/h": [(500, f"DATABASE_URL=postgres://u:{secret}@db\x00")]})
    with pytest.raises(HealthCheckFailed) as info:
        verify_health({"a": "http://a/h"}, timeout=0, clock=fake_time.clock, sleep=fake_time.sleep, fetch=fetch, redact=[secret])
    assert secret not in str(info.value) and "***" in str(info.value) and "\x00" not in str(info.value)


@pytest.fixture
def http_service() -> Iterator[tuple[str, list[int]]]:
    """A real loopback HTTP server answering the statuses queued in the returned list (then 200)."""
    statuses: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = statuses.pop(0) if statuses else 200
            body = b"ok" if status == 200 else b"not yet"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health", statuses
    finally:
        server.shutdown()
        server.server_close()


def test_real_http_fetch_succeeds_when_service_recovers(http_service: tuple[str, list[int]]) -> None:
    url, statuses = http_service
    statuses.extend([503, 503])
    out = verify_health({"svc": url}, timeout=10, interval=0.01, max_interval=0.02)
    assert out["svc"].status == 200 and out["svc"].attempts == 3


def test_real_http_fetch_reports_refused_connection_when_port_closed() -> None:
    with pytest.raises(HealthCheckFailed, match=r"svc: GET http://127.0.0.1:9/h -> connection refused or reset"):
        verify_health({"svc": "http://127.0.0.1:9/h"}, timeout=0.2, interval=0.05)
