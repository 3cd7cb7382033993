"""Post-deploy verification: poll each service's health URL until it answers 2xx or a deadline passes.

Guarantees:

* Every URL is tried at least once, and nothing waits past the deadline (each request's read
  timeout is cut to the time left).
* Waits between rounds grow exponentially (``interval`` doubling up to ``max_interval``).
* On failure, HealthCheckFailed names every service still failing, its URL and its last answer
  (HTTP status and the first 200 characters of the body) or its connection error.
* The clock, the sleep and the HTTP fetch are injectable, so tests run without real waiting.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import requests

__all__ = ["HealthCheckFailed", "HealthFailure", "HealthResult", "verify_health"]

Fetch = Callable[[str, float], tuple[int, str]]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
BODY_EXCERPT = 200


@dataclass(frozen=True)
class HealthResult:
    service: str
    url: str
    status: int
    attempts: int
    elapsed: float


@dataclass(frozen=True)
class HealthFailure:
    service: str
    url: str
    attempts: int
    status: int | None = None
    body: str = ""
    error: str | None = None

    def describe(self) -> str:
        if self.status is not None:
            body = f" {self.body!r}" if self.body else " (empty body)"
            last = f"HTTP {self.status}{body}"
        else:
            last = self.error or "no answer"
        return f"{self.service}: GET {self.url} -> {last} ({self.attempts} attempt{'s' if self.attempts != 1 else ''})"


class HealthCheckFailed(Exception):
    """One or more services did not answer 2xx before the deadline."""

    def __init__(self, failures: list[HealthFailure], timeout: float) -> None:
        self.failures = failures
        self.timeout = timeout
        first = failures[0]
        self.service = first.service
        self.url = first.url
        self.last_status = first.status
        self.last_body = first.body
        self.last_error = first.error
        lines = "; ".join(f.describe() for f in failures)
        super().__init__(f"health check failed after {timeout:g}s: {lines}")


def _requests_fetch(session: requests.Session, connect_timeout: float) -> Fetch:
    def fetch(url: str, read_timeout: float) -> tuple[int, str]:
        resp = session.get(url, timeout=(min(connect_timeout, read_timeout), read_timeout), allow_redirects=True)
        try:
            text = resp.content[:4096].decode("utf-8", errors="replace")
        finally:
            resp.close()
        return resp.status_code, text

    return fetch


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out waiting for the answer"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection refused or reset"
    return f"{type(exc).__name__}: {exc}"


def _clean(text: str, redact: Iterable[str]) -> str:
    for value in sorted(redact, key=len, reverse=True):
        if value:
            text = text.replace(value, "***")
    text = _CONTROL.sub(" ", text).strip()
    return text[:BODY_EXCERPT]


def verify_health(
    urls: Mapping[str, str],
    *,
    timeout: float = 120.0,
    interval: float = 1.0,
    max_interval: float = 8.0,
    request_timeout: float = 10.0,
    connect_timeout: float = 3.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    fetch: Fetch | None = None,
    redact: Iterable[str] = (),
) -> dict[str, HealthResult]:
    """Poll ``urls`` (service -> URL) until each answers 2xx; raise HealthCheckFailed at the deadline."""
    if not urls:
        return {}
    redact = [v for v in redact if isinstance(v, str) and len(v) >= 4]
    session: requests.Session | None = None
    if fetch is None:
        session = requests.Session()
        fetch = _requests_fetch(session, connect_timeout)
    start = clock()
    deadline = start + max(0.0, timeout)
    pending = dict(urls)
    attempts = dict.fromkeys(urls, 0)
    last: dict[str, HealthFailure] = {}
    ok: dict[str, HealthResult] = {}
    delay = max(0.0, interval)
    try:
        while True:
            for service, url in list(pending.items()):
                remaining = deadline - clock()
                if attempts[service] > 0 and remaining <= 0:
                    continue
                attempts[service] += 1
                try:
                    status, body = fetch(url, max(0.1, min(request_timeout, remaining)))
                except Exception as exc:  # every failure to answer is a failed probe
                    last[service] = HealthFailure(service, url, attempts[service], error=_clean(_describe_error(exc), redact))
                    continue
                if 200 <= status < 300:
                    ok[service] = HealthResult(service, url, status, attempts[service], clock() - start)
                    del pending[service]
                    last.pop(service, None)
                else:
                    last[service] = HealthFailure(service, url, attempts[service], status=status, body=_clean(body or "", redact))
            if not pending:
                return ok
            now = clock()
            if now >= deadline:
                break
            sleep(min(delay, deadline - now))
            delay = min(max_interval, delay * 2 if delay > 0 else max_interval)
    finally:
        if session is not None:
            session.close()
    raise HealthCheckFailed([last[s] for s in urls if s in pending and s in last], timeout)
