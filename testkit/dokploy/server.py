"""HTTP transport of the Dokploy v0.30.2 STAND-IN: auth, routing, envelopes, the FakeDokploy app.

Request pipeline, in Dokploy's order (Next.js API route -> ``pages/api/[...trpc].ts`` ->
``@dokploy/trpc-openapi``):

1. ``GET /api/health`` answers ``{"ok":true}`` without auth.
2. Next.js body parser: > 1 MB -> 413; a JSON content type with a bad body -> ``400 Invalid JSON``.
3. ``x-api-key`` check before routing: missing/unknown/rate-limited (or the database down) -> 401
   ``{"message":"Unauthorized"}``.
4. ``/api/<router>.<procedure>`` (case-insensitive); GET for queries, POST for mutations;
   anything else -> 404 ``{"message":"Not found",...}`` (HEAD -> 204).
5. POST without ``application/json`` -> 415 UNSUPPORTED_MEDIA_TYPE.
6. Input spread into an object, coerced and validated against Dokploy's OpenAPI document
   (``validation.py``) -> 400 "Input validation failed" with zod-v4 issues.
7. The procedure (``handlers.py``); success = raw JSON (empty body for undefined), errors =
   the tRPC envelope ``{"message","code","data":{"code","httpStatus","path","zodError"}}``.

Also served: the native tRPC surface ``/api/trpc/<proc>`` (superjson-style ``{"json":...}``; its public
procedures, ``settings.health``, need no key) and the stand-in's control endpoints under ``/__fake__/``
(faults, calls, restart, idle).

A restart (``FakeDokploy.restart``) is modelled on Dokploy's container being stopped and started again: the
requests in flight lose their connection (a procedure not started yet never runs), the port refuses
connections for ``downtime`` seconds, the in-memory deployment queue is lost (``DeployQueue.reset``), and
the new process, once listening, cancels the deployments left ``running`` after ``startup`` seconds in a
production build (``initCancelDeployments``) or leaves them ``running`` forever in a development build.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from testkit.dokploy import containers as _containers  # noqa: F401  (registers the docker.* / compose.readLogs routes)
from testkit.dokploy import domains as _domains  # noqa: F401  (registers domain.*, overview.domains, compose.getConvertedCompose)
from testkit.dokploy.containers import SimContainers
from testkit.dokploy.deployer import DeployQueue
from testkit.dokploy.dockerops import DockerRunner
from testkit.dokploy.faults import Faults
from testkit.dokploy.handlers import HANDLERS, UNDEFINED, ApiError
from testkit.dokploy.latency import Latency, parse_latency
from testkit.dokploy.state import State
from testkit.dokploy.swarm import ensure_servers  # also registers the swarm/docker/server procedures
from testkit.dokploy.validation import ABSENT, OpenApiIndex, Operation, ValidationFailed, get_index

BODY_LIMIT = 1024 * 1024  # Next.js default bodyParser sizeLimit "1mb"
HTTP_STATUS = {
    "PARSE_ERROR": 400, "BAD_REQUEST": 400, "UNAUTHORIZED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404,
    "METHOD_NOT_SUPPORTED": 405, "TIMEOUT": 408, "CONFLICT": 409, "PRECONDITION_FAILED": 412, "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415, "UNPROCESSABLE_CONTENT": 422, "TOO_MANY_REQUESTS": 429, "CLIENT_CLOSED_REQUEST": 499,
    "INTERNAL_SERVER_ERROR": 500, "NOT_IMPLEMENTED": 501,
}
JSONRPC_CODE = {
    "PARSE_ERROR": -32700, "BAD_REQUEST": -32600, "INTERNAL_SERVER_ERROR": -32603, "NOT_IMPLEMENTED": -32603,
    "UNAUTHORIZED": -32001, "FORBIDDEN": -32003, "NOT_FOUND": -32004, "METHOD_NOT_SUPPORTED": -32005, "TIMEOUT": -32008,
    "CONFLICT": -32009, "PRECONDITION_FAILED": -32012, "PAYLOAD_TOO_LARGE": -32013, "UNSUPPORTED_MEDIA_TYPE": -32015,
    "UNPROCESSABLE_CONTENT": -32022, "TOO_MANY_REQUESTS": -32029, "CLIENT_CLOSED_REQUEST": -32099,
}
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
PROXY_BODIES = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
PUBLIC_PROCEDURES = frozenset({"settings.health"})
"""tRPC publicProcedure: answered without a key on the native surface (the REST surface checks the key first)."""
NODE_ENVS = ("production", "development")


def dumps(value: Any) -> bytes:
    """JSON.stringify: compact, UTF-8, integral floats as integers."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def next_etag(payload: bytes) -> str:
    """Next.js `generateETag`: fnv1a52 of the body in base 36 plus the length in base 36."""
    text = payload.decode("utf-8")
    v0, v1, v2, v3 = 0x2325, 0x8422, 0x9CE4, 0xCBF2
    for ch in text:
        v0 ^= ord(ch) & 0xFFFF
        t0, t1, t2, t3 = v0 * 435, v1 * 435, v2 * 435, v3 * 435
        t2 += (v0 << 8) & 0xFFFFFFFF
        t3 += (v1 << 8) & 0xFFFFFFFF
        t1 += t0 >> 16
        v0 = t0 & 65535
        t2 += t1 >> 16
        v1 = t1 & 65535
        v3 = (t3 + (t2 >> 16)) & 65535
        v2 = t2 & 65535
    value = (v3 & 15) * 281474976710656 + v2 * 4294967296 + v1 * 65536 + (v0 ^ (v3 >> 4))
    return f'"{_base36(value)}{_base36(len(text))}"'


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def error_body(code: str, message: str, path: str | None, zod: Any = None, issues: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The REST adapter's error envelope (tRPC shape + Dokploy's errorFormatter)."""
    data: dict[str, Any] = {"code": code, "httpStatus": HTTP_STATUS.get(code, 500)}
    if path is not None:
        data["path"] = path
    data["zodError"] = zod
    body: dict[str, Any] = {"message": message, "code": code, "data": data}
    if issues is not None:
        body["issues"] = issues
    return body


def spread(value: Any) -> dict[str, Any]:
    """`{...value}` of the parsed body: objects as is, arrays/strings by index, scalars -> {}."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (list, str)):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Cut(Exception):
    """Internal: Dokploy restarted while this request was in flight: close the connection without an answer."""


class _Reply(Exception):
    """Internal: stop processing and send this response."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None, reason: str | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers, self.reason = status, body, headers or {}, reason


class FakeDokploy:
    """A STAND-IN for Dokploy v0.30.2's HTTP API (REST surface + native tRPC), for tests and local stacks.

    ``docker=True`` really deploys composes with ``docker compose`` on this host (files under
    ``work_dir``); ``docker=False`` simulates deploys. ``state_file`` persists the database as JSON.
    ``latency``: ``"dokploy"`` (as slow as a measured v0.30.2, see ``latency.py``), a scale factor,
    or ``0`` for none; ``deploy_start_delay`` / ``deploy_duration`` (None: from ``latency``) override it.
    ``servers`` names remote servers to create at start (when missing); they all run on the local engine.
    ``node_env``: "production" (Dokploy's image: deployments left running are cancelled when it starts) or
    "development" (the build the captures were recorded on: they stay ``running``).
    """

    def __init__(self, api_keys: Iterable[str] | str = (), docker: bool = False, work_dir: str | Path | None = None,
                 state_file: str | Path | None = None, deploy_start_delay: float | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, builds_concurrency: int = 1, deploy_duration: float | None = None,
                 latency: str | float | Latency = "dokploy", docker_config: str | Path | None = None,
                 openapi: OpenApiIndex | None = None, access_log: Any = None, servers: Iterable[str] = (),
                 node_env: str = "production") -> None:
        if not is_loopback(host):
            raise ValueError(f"refusing to bind the Dokploy stand-in to non-loopback host {host!r}")
        if node_env not in NODE_ENVS:
            raise ValueError(f"node_env must be one of {NODE_ENVS}, not {node_env!r}")
        self.production = node_env == "production"
        self.epoch = 0
        """Incremented by every restart: a request that began before it gets no answer."""
        self.events: list[tuple[float, str]] = []
        """(time.monotonic(), what) of every restart and database outage, for tests to measure against."""
        self._connections: set[socket.socket] = set()
        self.api_keys: set[str] = {api_keys} if isinstance(api_keys, str) else set(api_keys)
        self.docker = docker
        self.host, self._port = host, port
        self.latency = parse_latency(latency)
        self.deploy_start_delay = self.latency.deploy_start() if deploy_start_delay is None else deploy_start_delay
        self.containers = SimContainers()  # what simulated deploys run (docker=False)
        self.faults = Faults()
        self.faults.deploy_duration = deploy_duration
        self.state = State(Path(state_file) if state_file else None)
        self.index = openapi or get_index()
        self.queue = DeployQueue(self, builds_concurrency)
        self.calls: list[tuple[str, str, int]] = []
        self.write_calls = 0
        self.access_log = access_log
        self._calls_lock = threading.Lock()
        self._work_dir = Path(work_dir) if work_dir else None
        self._docker_config = Path(docker_config) if docker_config else None
        self._own_work_dir: Path | None = None
        self.docker_runner: DockerRunner | None = None
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._last_cancelled: list[str] = []
        self.server_names = list(servers)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    def start(self) -> str:
        """Load state (a production build cancels deployments left running), prepare docker, listen. Returns the base URL."""
        if self.state.load() and self.production:
            with self.state.write():
                self._last_cancelled = self.state.cancel_running()
        ensure_servers(self, self.server_names)
        if self.docker:
            work = self._work_dir
            if work is None:
                work = self._own_work_dir = Path(tempfile.mkdtemp(prefix="fake-dokploy-"))
            work.mkdir(parents=True, exist_ok=True)
            self.docker_runner = DockerRunner(work.resolve(), self._docker_config)
            self.docker_runner.ensure_network()
        self._listen()
        return self.base_url

    def _listen(self) -> None:
        handler = type("BoundHandler", (_Handler,), {"app": self})
        self._http = ThreadingHTTPServer((self.host, self._port), handler)
        self._http.daemon_threads = True
        self._port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-dokploy-http", daemon=True)
        self._thread.start()

    def _close_listener(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def stop(self) -> None:
        """Stop listening, close every connection and abandon running jobs (deployed containers are left as they are)."""
        self._close_listener()
        self.epoch += 1
        self._cut_connections()  # like a process that ends: no kept-alive connection is served any more
        self.queue.close()
        self.state.save()
        if self._own_work_dir is not None:
            shutil.rmtree(self._own_work_dir, ignore_errors=True)
            self._own_work_dir = None

    def restart(self, downtime: float = 0.0, *, cancel_running: bool | None = None, startup: float = 0.0) -> list[str]:
        """Dokploy's container stopped and started again (see the module docstring); returns once it is back.

        In flight requests lose their connection; waiting jobs vanish; running deployments are abandoned (their
        local commands killed) and stay "running". With ``downtime`` > 0 the port refuses connections for that
        long. Then, when ``cancel_running`` (default: a production build), ``startup`` seconds after listening
        again, running deployments become "cancelled" and their composes "idle". Returns the cancelled ids.
        """
        cancel = self.production if cancel_running is None else cancel_running
        self._event(f"restart: down for {downtime:g}s, {'cancelling' if cancel else 'keeping'} running deployments")
        if downtime > 0:
            self._close_listener()
        with self.state.write():
            self.epoch += 1
            self._cut_connections()
            self.queue.reset()
        cancelled: list[str] = []
        if downtime > 0:
            time.sleep(downtime)
            self._listen()
        self._event("restart: listening again")
        if cancel:
            time.sleep(max(0.0, startup))
            with self.state.write():
                cancelled = self.state.cancel_running()
        self._last_cancelled = cancelled
        return cancelled

    def database_outage(self, seconds: float) -> None:
        """Dokploy's Postgres down for ``seconds`` (``faults.database_down``); returns once it is back."""
        self._event(f"database down for {seconds:g}s")
        self.faults.database_down = True
        try:
            time.sleep(seconds)
        finally:
            self.faults.database_down = False
            self._event("database up")

    def on_event(self, event: str, compose: str | None, title: str = "") -> None:
        """Fire the fault trigger (``faults.at``) this event matches, if any, in the background."""
        trigger = self.faults.take_trigger(event, compose, title)
        if trigger is None:
            return

        def fire() -> None:
            time.sleep(trigger.after)
            if trigger.action == "restart":
                self.restart(trigger.seconds, cancel_running=trigger.cancel_running, startup=trigger.startup)
            else:
                self.database_outage(trigger.seconds)

        threading.Thread(target=fire, name=f"fault-{trigger.action}", daemon=True).start()

    def _event(self, what: str) -> None:
        self.events.append((time.monotonic(), what))
        if self.access_log is not None:
            self.access_log(what)

    def _cut_connections(self) -> None:
        with self._calls_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no deploy job is waiting or running. False on timeout (e.g. a stuck deploy)."""
        return self.queue.wait_idle(timeout)

    def reset_calls(self) -> None:
        with self._calls_lock:
            self.calls.clear()
            self.write_calls = 0

    def _record(self, method: str, procedure: str, status: int) -> None:
        with self._calls_lock:
            self.calls.append((method, procedure, status))
            if method == "POST":
                self.write_calls += 1

    def __enter__(self) -> FakeDokploy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def authorized(self, key: str | None) -> bool:
        return bool(key) and key in self.api_keys


class _Handler(BaseHTTPRequestHandler):
    app: FakeDokploy
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    server_version = "fake-dokploy"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        if self.app.access_log is not None:
            self.app.access_log(format % args)

    def setup(self) -> None:
        super().setup()
        with self.app._calls_lock:
            self.app._connections.add(self.connection)

    def finish(self) -> None:
        with self.app._calls_lock:
            self.app._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    # -- plumbing -------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            total = 0
            while True:
                size = int((self.rfile.readline().split(b";")[0].strip() or b"0"), 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                total += size
                if total > BODY_LIMIT * 4:
                    break
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, reason: str | None = None,
              api: bool = True) -> None:
        self.send_response(status, reason)
        if api:
            for key, value in SECURITY_HEADERS.items():
                self.send_header(key, value)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> _Reply:
        return _Reply(status, dumps(value), {"Content-Type": "application/json"})

    def _next_json(self, status: int, value: Any) -> _Reply:
        """Next.js `res.status(n).json(v)`: charset and an ETag."""
        body = dumps(value)
        return _Reply(status, body, {"Content-Type": "application/json; charset=utf-8", "ETag": next_etag(body)})

    def _dispatch(self) -> None:
        app = self.app
        method = self.command
        url = urlsplit(self.path)
        path = url.path
        body = self._read_body()
        procedure_label = path
        status = 500
        epoch = app.epoch
        recorded = False
        try:
            if path.startswith("/__fake__/"):
                reply = self._control(method, path, url.query, body)
                self._send(reply.status, reply.body, reply.headers, api=False)
                return
            if not (path == "/api" or path.startswith("/api/")):
                html = b"<!DOCTYPE html><html><head><title>404: This page could not be found</title></head><body>404</body></html>"
                raise _Reply(404, html, {"Content-Type": "text/html; charset=utf-8"})
            rest = path[len("/api/") :].strip("/")
            procedure_label = rest
            if rest.lower() == "health":
                raise self._next_json(200, {"ok": True})
            native = rest.lower().startswith("trpc/")
            name = rest[5:] if native else rest
            op = app.index.find(name) if "," not in name else None
            procedure_label = op.procedure if op else name
            seconds = max((app.latency.request(o.procedure, o.method) for n in name.split(",") if (o := app.index.find(n))), default=0.0)
            reply = app.latency.paced(seconds, lambda: self._faulted(method, procedure_label, body, url.query, native, name, epoch))
            if app.epoch != epoch:  # restarted while the procedure ran: its answer is lost
                raise _Cut
            status = reply.status
            recorded = self._record_once(recorded, method, procedure_label, status)
            self._send(reply.status, reply.body, reply.headers, reply.reason)
        except _Reply as reply:
            status = reply.status
            recorded = self._record_once(recorded, method, procedure_label, status)
            self._send(reply.status, reply.body, reply.headers, reply.reason, api=path.startswith("/api"))
        except _Cut:
            status = 0
            self.close_connection = True
        except OSError:  # the connection is gone (cut by a restart, or the client left)
            self.close_connection = True
            return
        finally:
            self._record_once(recorded, method, procedure_label, status)

    def _record_once(self, recorded: bool, method: str, procedure: str, status: int) -> bool:
        """Note an /api call once, before its answer is sent (a client that has the answer finds the call noted)."""
        if not recorded and self.path.startswith("/api"):
            self.app._record(method, procedure, status)
        return True

    def _faulted(self, method: str, procedure: str, body: bytes, query: str, native: bool, name: str, epoch: int) -> _Reply:
        faults = self.app.faults
        failure = faults.take_failure(procedure)
        delay = faults.take_delay(procedure)
        if delay and not delay.after:
            time.sleep(delay.seconds)
        if self.app.epoch != epoch:  # restarted before the procedure began: it never runs
            raise _Cut
        if failure is None or failure.apply:
            try:
                reply = self._native(method, name, body, query) if native else self._rest(method, procedure, body, query)
            except _Reply as caught:
                reply = caught
        if delay and delay.after:
            time.sleep(delay.seconds)
        if failure is not None:
            if failure.status in PROXY_BODIES:
                text = (failure.message or PROXY_BODIES[failure.status]).encode()
                return _Reply(failure.status, text, {"Content-Type": "text/plain; charset=utf-8"})
            code = next((c for c, s in HTTP_STATUS.items() if s == failure.status), "INTERNAL_SERVER_ERROR")
            message = failure.message or ("Internal server error" if failure.status == 500 else code)
            return self._json(failure.status, error_body(code, message, procedure))
        return reply

    def _parse_next_body(self, body: bytes) -> Any:
        """Next.js parseBody: JSON for application/json (empty -> {}), urlencoded, else text."""
        if len(body) > BODY_LIMIT:
            raise _Reply(413, b"Body exceeded 1mb limit", reason="Body exceeded 1mb limit")
        media = (self.headers.get("Content-Type") or "text/plain").split(";")[0].strip().lower()
        text = body.decode("utf-8", "replace")
        if media in ("application/json", "application/ld+json"):
            if not text:
                return {}
            try:
                return json.loads(text, parse_constant=_reject_constant)
            except ValueError:
                raise _Reply(400, b"Invalid JSON", reason="Invalid JSON") from None
        if media == "application/x-www-form-urlencoded":
            return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(text, keep_blank_values=True).items()}
        return text

    @staticmethod
    def _query(query: str) -> dict[str, Any]:
        return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(query, keep_blank_values=True).items()}

    # -- REST surface ---------------------------------------------------------------------------

    def _rest(self, method: str, procedure: str, body: bytes, query: str) -> _Reply:
        app = self.app
        parsed = self._parse_next_body(body)
        if app.faults.rate_limited or app.faults.database_down or not app.authorized(self.headers.get("x-api-key")):
            raise self._next_json(401, {"message": "Unauthorized"})
        op = app.index.find(procedure)
        if op is None or method not in ("GET", "POST") or op.method != method:
            if method == "HEAD":
                return _Reply(204, b"")
            return self._json(404, error_body("NOT_FOUND", "Not found", None))
        if method == "POST":
            ctype = self.headers.get("Content-Type")
            if not (ctype or "").startswith("application/json"):
                message = f'Unsupported content-type "{ctype}' if ctype else "Missing content-type header"
                return self._json(415, error_body("UNSUPPORTED_MEDIA_TYPE", message, op.procedure))
            raw = spread(parsed)
        else:
            raw = self._query(query)
        try:
            self._announce(op, raw)
            value = self._call(op, raw, coerce=True, from_query=method == "GET")
        except ValidationFailed as exc:
            return self._json(400, error_body("BAD_REQUEST", "Input validation failed", op.procedure, exc.flatten(), exc.issues))
        except ApiError as exc:
            return self._json(HTTP_STATUS.get(exc.code, 500), error_body(exc.code, exc.message, op.procedure))
        if value is UNDEFINED:
            return _Reply(200, b"", {"Content-Type": "application/json"})
        return self._json(200, value)

    def _announce(self, op: Operation, raw: Any) -> None:
        """A request for a procedure arrived: fire the fault trigger it matches (by the compose it concerns)."""
        state = self.app.state
        compose = None
        with state.lock:
            if isinstance(raw, dict) and isinstance(raw.get("composeId"), str):
                row = state.composes.get(raw["composeId"])
                compose = row["name"] if row else None
            elif isinstance(raw, dict) and isinstance(raw.get("appName"), str):
                app_name = raw["appName"]
                compose = next((c["name"] for c in state.composes.values()
                                if app_name == c["appName"] or app_name.startswith(f"{c['appName']}_")), None)
        self.app.on_event(op.procedure, compose)

    def _call(self, op: Operation, raw: Any, *, coerce: bool, from_query: bool = False) -> Any:
        if raw is ABSENT:
            if op.has_input:
                raise ValidationFailed([{"expected": "object", "code": "invalid_type", "path": [],
                                         "message": "Invalid input: expected object, received undefined"}])
            raw = {}
        inp = self.app.index.parse(op, raw, coerce=coerce, from_query=from_query) if op.has_input else {}
        handler = HANDLERS.get(op.procedure)
        if handler is None:
            raise ApiError("NOT_IMPLEMENTED", f"{op.procedure} is not implemented by the Dokploy stand-in (testkit.dokploy)")
        try:
            return handler(self.app, inp)
        except (ApiError, ValidationFailed):
            raise
        except Exception as exc:  # unknown errors become INTERNAL_SERVER_ERROR with their message
            raise ApiError("INTERNAL_SERVER_ERROR", str(exc) or "Internal server error") from exc

    # -- native tRPC surface (/api/trpc/<proc>) -------------------------------------------------

    def _native(self, method: str, names: str, body: bytes, query: str) -> _Reply:
        params = self._query(query)
        batch = str(params.get("batch", "")) in ("1", "true")
        procs = names.split(",") if batch else [names]
        if method == "GET":
            raw_input = params.get("input")
            try:
                payload = json.loads(raw_input) if isinstance(raw_input, str) else ABSENT
            except ValueError:
                payload = ABSENT
        else:
            payload = self._parse_next_body(body) if body else ABSENT
        results = []
        for i, name in enumerate(procs):
            item = payload.get(str(i), ABSENT) if batch and isinstance(payload, dict) else (ABSENT if batch else payload)
            results.append(self._native_one(method, name, item))
        statuses = {s for s, _ in results}
        if not batch:
            status, item = results[0]
            return _Reply(status, dumps(item), {"Content-Type": "application/json"})
        status = statuses.pop() if len(statuses) == 1 else 207
        return _Reply(status, dumps([item for _, item in results]), {"Content-Type": "application/json"})

    def _native_one(self, method: str, name: str, payload: Any) -> tuple[int, dict[str, Any]]:
        def err(code: str, message: str, path: str, zod: Any = None) -> tuple[int, dict[str, Any]]:
            status = HTTP_STATUS.get(code, 500)
            data = {"code": code, "httpStatus": status, "path": path, "zodError": zod}
            return status, {"error": {"json": {"message": message, "code": JSONRPC_CODE.get(code, -32603), "data": data}}}

        op = self.app.index.find(name)
        if op is None:
            return err("NOT_FOUND", f'No procedure found on path "{name}"', name)
        if method not in ("GET", "POST") or op.method != method:
            kind = "query" if op.method == "GET" else "mutation"
            return err("METHOD_NOT_SUPPORTED", f'Unsupported {method}-request to {kind} procedure at path "{name}"', op.procedure)
        faults = self.app.faults
        refused = faults.rate_limited or faults.database_down or not self.app.authorized(self.headers.get("x-api-key"))
        if refused and op.procedure not in PUBLIC_PROCEDURES:
            return err("UNAUTHORIZED", "UNAUTHORIZED", op.procedure)
        raw = payload.get("json", ABSENT) if isinstance(payload, dict) else ABSENT
        try:
            value = self._call(op, raw, coerce=False)
        except ValidationFailed as exc:
            return err("BAD_REQUEST", json.dumps(exc.issues, indent=2, ensure_ascii=False), op.procedure, exc.flatten())
        except ApiError as exc:
            return err(exc.code, exc.message, op.procedure)
        if value is UNDEFINED:
            return 200, {"result": {"data": {"json": None, "meta": {"values": ["undefined"]}}}}
        return 200, {"result": {"data": {"json": value}}}

    # -- control endpoints (/__fake__/...) ------------------------------------------------------

    def _control(self, method: str, path: str, query: str, body: bytes) -> _Reply:
        app = self.app
        if not app.authorized(self.headers.get("x-api-key")):
            return self._next_json(401, {"message": "Unauthorized"})
        try:
            spec = json.loads(body) if body else {}
        except ValueError:
            return self._json(400, {"error": "invalid JSON"})
        route = path.rstrip("/")
        if route == "/__fake__/faults":
            if method == "POST":
                try:
                    app.faults.apply(spec)
                except (TypeError, ValueError) as exc:
                    return self._json(400, {"error": str(exc)})
            return self._json(200, app.faults.snapshot())
        if route == "/__fake__/calls" and method == "GET":
            with app._calls_lock:
                return self._json(200, {"calls": [list(c) for c in app.calls], "write_calls": app.write_calls})
        if route == "/__fake__/calls/reset" and method == "POST":
            app.reset_calls()
            return self._json(200, {"ok": True})
        if route == "/__fake__/restart" and method == "POST":
            options = {k: spec[k] for k in ("downtime", "cancel_running", "startup") if k in spec}
            if float(options.get("downtime") or 0) > 0:  # this very connection is cut: restart in the background
                threading.Thread(target=app.restart, kwargs=options, daemon=True).start()
                return self._json(200, {"ok": True, "restarting": True})
            with app._calls_lock:  # the stand-in's own control channel: not one of Dokploy's connections
                app._connections.discard(self.connection)
            cancelled = app.restart(**options)
            return self._json(200, {"ok": True, "cancelled": cancelled})
        if route == "/__fake__/containers" and method == "POST":
            try:
                return self._json(200, app.containers.control(spec))
            except (KeyError, TypeError, ValueError) as exc:
                return self._json(400, {"error": str(exc)})
        if route == "/__fake__/idle":
            timeout = float(self._query(query).get("timeout", 0) or 0)
            return self._json(200, {"idle": app.wait_idle(timeout) if timeout > 0 else not app.queue.busy()})
        return self._json(404, {"error": f"unknown control endpoint {method} {path}"})

