"""HTTP transport to Dokploy's REST surface: one session, the key header, timeouts, safe retries, error mapping.

Facts it relies on (``shared/dokploy/API.md``): queries are ``GET /api/<procedure>?...``,
mutations ``POST`` with a JSON body; errors are ``{"message", "code", "data", "issues"}``; a
missing, wrong, expired or rate-limited key is always ``401 {"message":"Unauthorized"}``.

Guarantees:

* Every request has a (connect, read) timeout and never follows redirects (the key must not be
  forwarded to another host).
* A ``GET`` is retried, with exponential backoff and jitter, on connection errors, timeouts and
  502/503/504. A ``POST`` is retried only when the request surely never left this machine
  (connect errors), and on 502/503/504 only for the idempotent writes (``IDEMPOTENT_POSTS``).
* Error messages carry the procedure and Dokploy's own message, never the request body, never
  the API key (nor any value registered with ``redact``): redacted first, then cut.
* With ``unreachable_timeout`` > 0, Dokploy going away is waited out (``dokploy_api.outage``): a request
  that may be retried keeps trying, every ``OUTAGE_POLL`` seconds at most, while Dokploy does not answer,
  for at most that many seconds, then fails with ``DokployUnreachable`` naming the URL, how long it waited
  and what the client was doing (``doing``). A 401 ``{"message":"Unauthorized"}`` is Dokploy's key check,
  which runs before any procedure: while ``settings.health`` says the database is down (or does not
  answer), any request is retried the same way; when the database answers, the key itself is refused.
  ``outages`` records every outage, so a caller can tell that Dokploy went away and came back.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests import exceptions as rexc

from core.hosts import is_loopback
from core.redact import Redactor, excerpt
from dokploy_api import errors, outage

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
RETRY_STATUSES = frozenset({502, 503, 504})
# Writes that give the same result when sent twice: safe to re-send after a gateway error.
IDEMPOTENT_POSTS = frozenset(
    {
        "compose.update",
        "compose.saveEnvironment",
        "compose.stop",
        "compose.start",
        "project.update",
        "environment.update",
        "registry.update",
        "domain.update",
    }
)
EXCERPT = 200
UNAUTHORIZED_HINT = (
    "the API key is missing, wrong, expired or rate-limited "
    "(Dokploy answers all of these with the same 401; keys minted through the API "
    "without rateLimitEnabled=false allow only a few calls a day)"
)
OUTAGE_POLL = 2.0
"""Seconds between attempts once an outage outlasted the counted retries (how soon Dokploy's return is seen)."""


def check_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """Return the normalised base URL (no trailing ``/`` or ``/api``) or raise errors.DokployConfigError."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise errors.DokployConfigError("dokploy_url: is required (e.g. https://dokploy.example.com)")
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise errors.DokployConfigError(f"dokploy_url: should start with https:// (got scheme {parts.scheme or 'none'!r})")
    if not parts.hostname:
        raise errors.DokployConfigError("dokploy_url: has no host name")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise errors.DokployConfigError("dokploy_url: should be scheme://host[:port][/path] without credentials, query or fragment")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise errors.DokployConfigError(
            f"dokploy_url: refusing plain http:// to {parts.hostname}: the API key would travel unencrypted; "
            "use https:// or set allow_insecure_http=True"
        )
    if url.endswith("/api"):
        url = url[: -len("/api")]
    return url


class Transport:
    """Sends one procedure call and turns the answer into a value or a typed errors.DokployError."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        allow_insecure_http: bool = False,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        redact: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
        unreachable_timeout: float = 0.0,
        unreachable_setting: str = "",
    ) -> None:
        """``unreachable_timeout``: seconds Dokploy may stay away before a request fails (0: only ``max_retries``);
        ``unreachable_setting``: what the caller calls that bound, named in the error."""
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        if not isinstance(api_key, str) or not api_key.strip():
            raise errors.DokployConfigError("api_key: is required (a Dokploy API key, sent as x-api-key)")
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.session = session or requests.Session()
        self.sleep = sleep
        self.jitter = jitter
        self.redact = Redactor([api_key, *redact])
        self.outages = outage.Outages(unreachable_timeout, clock)
        self.unreachable_setting = unreachable_setting
        self.accepted = False
        """Whether Dokploy accepted the key once (a 2xx) on this transport."""
        self.doing = ""
        """What the caller is doing, for the error when Dokploy stays away ("verifying compose project backend")."""

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r}, api_key=***)"

    def __getstate__(self) -> None:
        raise TypeError("the Dokploy transport holds a session and a key: build it where it is used, do not pickle it")

    def query(self, procedure: str, **params: Any) -> Any:
        """``GET /api/<procedure>?...``: retried on connection errors, timeouts and 502/503/504."""
        clean = {k: _query_value(v) for k, v in params.items() if v is not None}
        return self._request("GET", procedure, params=clean, idempotent=True)

    def mutate(self, procedure: str, body: Mapping[str, Any], *, idempotent: bool | None = None) -> Any:
        """``POST /api/<procedure>`` with a JSON body; only surely-unsent or idempotent requests are re-sent."""
        if idempotent is None:
            idempotent = procedure in IDEMPOTENT_POSTS
        return self._request("POST", procedure, json_body=dict(body), idempotent=idempotent)

    def _request(
        self,
        method: str,
        procedure: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
        idempotent: bool,
    ) -> Any:
        url = f"{self.base_url}/api/{procedure}"
        headers = {"x-api-key": self._api_key, "Accept": "application/json"}
        data: bytes | None = None
        if method == "POST":
            headers["Content-Type"] = "application/json"
            data = json.dumps(json_body or {}).encode()
        attempt = 0
        while True:
            try:
                resp = self.session.request(
                    method, url, params=params, data=data, headers=headers, timeout=self.timeout, allow_redirects=False
                )
            except rexc.SSLError as exc:
                raise self._connection_error(procedure, exc, not_sent=True, attempts=attempt + 1) from None
            except rexc.RequestException as exc:
                not_sent = _surely_not_sent(exc)
                transient = isinstance(exc, rexc.ConnectionError | rexc.Timeout | rexc.ChunkedEncodingError)
                if (not_sent or (method == "GET" and transient)) and self._again(attempt, outage.UNREACHABLE, _what(exc, not_sent)):
                    attempt += 1
                    continue
                raise self._unreachable(procedure, not_sent) or self._connection_error(
                    procedure, exc, not_sent=not_sent, attempts=attempt + 1
                ) from None
            if resp.status_code in RETRY_STATUSES and (method == "GET" or idempotent):
                retry_after = _retry_after(resp)
                if self._again(attempt, outage.UNREACHABLE, f"HTTP {resp.status_code}", retry_after):
                    resp.close()
                    attempt += 1
                    continue
                if (gone := self._unreachable(procedure, True)) is not None:
                    raise gone
            if resp.status_code == 401 and _key_check_refused(resp) and self.outages.bound > 0:
                state, detail = outage.database_state(self.session, self.base_url, self.timeout)
                waitable = state in (outage.DB_DOWN, outage.DB_NO_ANSWER) or (state == outage.DB_UNKNOWN and self.accepted)
                kind = outage.DATABASE if state == outage.DB_DOWN else outage.UNREACHABLE
                if waitable and self._again(attempt, kind, detail, counted=False):
                    resp.close()
                    attempt += 1
                    continue
                gone = self._unreachable(procedure, False) if kind == outage.DATABASE else None
                raise gone or self._refused(procedure, resp, state, detail)
            self.outages.answered()
            if 200 <= resp.status_code < 300:
                self.accepted = True
            return self._handle(procedure, resp)

    def _again(self, attempt: int, kind: str, detail: str, retry_after: float | None = None, *, counted: bool = True) -> bool:
        """Sleep before another attempt and say True, or say False: retries used up and no time left in the outage."""
        self.outages.failing(kind, detail)
        if counted and attempt < self.max_retries:
            self._backoff(attempt, retry_after, cap=self.outages.left() or None)
            return True
        left = self.outages.left()
        if left <= 0:
            return False
        self.sleep(min(left, max(OUTAGE_POLL if retry_after is None else retry_after, 0.05), self.max_backoff))
        return True

    def _unreachable(self, procedure: str, maybe_sent: bool) -> errors.DokployUnreachable | None:
        """The error for an outage that outlasted the bound (None when there is no bound or it is not used up)."""
        current = self.outages.current
        if current is None or self.outages.bound <= 0 or self.outages.left() > 0:
            return None
        seconds = float(int(current.seconds(self.outages.clock())))  # at least that long: never more than it was
        doing = f" while {self.doing}" if self.doing else ""
        setting = f" ({self.unreachable_setting})" if self.unreachable_setting else ""
        if current.kind == outage.DATABASE:
            what = (f"Dokploy at {self.base_url} refused every call for {seconds:.0f}s{doing} (401 Unauthorized: its key check "
                    f"needs its database, and {current.detail}): its database is down")
        else:
            what = f"Dokploy at {self.base_url} did not answer for {seconds:.0f}s{doing} ({current.detail}): it is down or restarting"
        msg = self.redact(f"{procedure}: {what}; gave up after {self.outages.bound:g}s{setting}")
        return errors.DokployUnreachable(msg, procedure=procedure, kind=current.kind, seconds=seconds, maybe_sent=maybe_sent,
                                         status=401 if current.kind == outage.DATABASE else None)

    def _refused(self, procedure: str, resp: requests.Response, state: str, detail: str) -> errors.DokployError:
        """A 401 from the key check that waiting does not explain: the key, or (the database unknown) a restart."""
        self.outages.answered()
        err = self._error_for(procedure, resp.status_code, resp.content or b"", resp.reason)
        if state == outage.DB_UP and self.accepted:
            extra = (f"; Dokploy accepted this key earlier in this run and its database answers ({detail}): "
                     "the key was deleted, expired or rate-limited since")
        elif state == outage.DB_UP:
            extra = f"; Dokploy's database answers ({detail})"
        else:
            extra = f"; or Dokploy may be restarting or its database down ({detail})"
        err.message = self.redact(f"{err.message}{extra}")
        err.args = (err.message,)
        return err

    def _backoff(self, attempt: int, retry_after: float | None, cap: float | None = None) -> None:
        base = min(self.max_backoff, self.backoff * (2**attempt))
        delay = base / 2 + self.jitter() * base / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        self.sleep(delay if cap is None else min(delay, cap))

    def _connection_error(self, procedure: str, exc: BaseException, *, not_sent: bool, attempts: int) -> errors.DokployConnectionError:
        if isinstance(exc, rexc.Timeout) and not isinstance(exc, rexc.ConnectTimeout):
            what = "timed out waiting for the answer"
        elif isinstance(exc, rexc.ConnectTimeout):
            what = "timed out connecting"
        elif isinstance(exc, rexc.SSLError):
            what = "TLS handshake failed (certificate or protocol)"
        elif not_sent:
            what = "could not connect"
        else:
            what = "connection broken"
        sent = "" if not_sent else "; the server may have received the request"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        msg = self.redact(f"{procedure}: {what} ({self.base_url}){tries}{sent}")
        return errors.DokployConnectionError(msg, procedure=procedure, maybe_sent=not not_sent)

    def _handle(self, procedure: str, resp: requests.Response) -> Any:
        status = resp.status_code
        raw = resp.content or b""
        if 200 <= status < 300:
            if not raw.strip():
                return None
            try:
                return json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise errors.DokployProtocolError(
                    f"{procedure}: answer is not JSON ({status})", procedure=procedure, status=status
                ) from None
        if 300 <= status < 400:
            where = self.redact.excerpt(resp.headers.get("Location", ""), 100)
            raise errors.DokployProtocolError(
                f"{procedure}: unexpected redirect ({status}) to {where or '?'}; set dokploy_url to the final URL",
                procedure=procedure,
                status=status,
            )
        raise self._error_for(procedure, status, raw, resp.reason)

    def _error_for(self, procedure: str, status: int, raw: bytes, reason: str | None) -> errors.DokployError:
        text = raw.decode("utf-8", errors="replace")
        body: Any = None
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        dmsg: str | None = None
        code: str | None = None
        field_errors: dict[str, list[str]] = {}
        if isinstance(body, dict):
            if isinstance(body.get("message"), str):
                dmsg = body["message"]
            if isinstance(body.get("code"), str):
                code = body["code"]
            field_errors = self._field_errors(body)
        if dmsg is None:
            dmsg = text if text.strip() and not isinstance(body, dict | list) else (reason or "no message")
        dmsg = self.redact.excerpt(dmsg, EXCERPT)
        head = f"{procedure}: {dmsg} ({status})"
        kw: dict[str, Any] = {"procedure": procedure, "status": status, "dokploy_message": dmsg, "code": code}
        if status == 401:
            hint = UNAUTHORIZED_HINT if dmsg == "Unauthorized" else "the key has no access to this object"
            return errors.DokployUnauthorized(f"{head}: {hint}", **kw)
        if status == 400:
            detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in field_errors.items())
            msg = f"{head}: {detail}" if detail else head
            return errors.DokployValidationError(excerpt(msg, 600), field_errors=field_errors, **kw)
        by_status: dict[int, type[errors.DokployError]] = {
            403: errors.DokployForbidden,
            404: errors.DokployNotFound,
            409: errors.DokployConflict,
        }
        if status >= 500:
            return errors.DokployServerError(head, **kw)
        return by_status.get(status, errors.DokployError)(head, **kw)

    def _field_errors(self, body: Mapping[str, Any]) -> dict[str, list[str]]:
        """Field path -> Dokploy's messages (zod ``issues``, else ``data.zodError.fieldErrors``), redacted."""
        out: dict[str, list[str]] = {}
        issues = body.get("issues")
        if isinstance(issues, list):
            for issue in issues:
                if not isinstance(issue, dict):
                    continue
                path = issue.get("path")
                key = ".".join(str(p) for p in path) if isinstance(path, list) and path else "(input)"
                msg = issue.get("message")
                if isinstance(msg, str):
                    out.setdefault(self.redact(key), []).append(self.redact.excerpt(msg, EXCERPT))
        if not out:
            data = body.get("data")
            zod = data.get("zodError") if isinstance(data, dict) else None
            fields = zod.get("fieldErrors") if isinstance(zod, dict) else None
            if isinstance(fields, dict):
                for key, msgs in fields.items():
                    if isinstance(msgs, list):
                        out[self.redact(str(key))] = [self.redact.excerpt(str(m), EXCERPT) for m in msgs]
        return out


def _key_check_refused(resp: requests.Response) -> bool:
    """Whether a 401 is Dokploy's key check (the exact short body), which answers before any procedure runs."""
    try:
        return bool(resp.json() == {"message": "Unauthorized"})
    except ValueError:
        return False


def _what(exc: BaseException, not_sent: bool) -> str:
    if isinstance(exc, rexc.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, rexc.Timeout):
        return "timed out waiting for the answer"
    return "connection refused" if not_sent else "connection broken"


def _surely_not_sent(exc: BaseException) -> bool:
    """True when the error happened before any byte of the request could reach the server."""
    if isinstance(exc, rexc.ConnectTimeout):
        return True
    if isinstance(exc, rexc.SSLError | rexc.ProxyError) or not isinstance(exc, rexc.ConnectionError):
        return False
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
