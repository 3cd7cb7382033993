"""A small, careful client for Dokploy's REST surface (``/api/<router>.<procedure>``).

Plain Python + requests; it knows nothing about Pulumi. Facts it relies on are in
``shared/dokploy/API.md``:

* every call sends the ``x-api-key`` header; queries are ``GET`` with a query string, mutations
  are ``POST`` with a JSON body;
* errors come back as ``{"message", "code", "data": {...}, "issues": [...]}``; a missing, wrong,
  expired or rate-limited key is always ``401 {"message":"Unauthorized"}``;
* ``compose.deploy``/``compose.redeploy`` only queue a job; the deployment row appears later and
  is the only way to learn the outcome (``deployment.allByCompose``, newest first).

Guarantees:

* Every request has a (connect, read) timeout and never follows redirects (the key must not be
  forwarded to another host).
* A ``GET`` is retried, with exponential backoff and jitter, on connection errors, timeouts and
  502/503/504. A ``POST`` is retried only when the request surely never left this machine
  (connect errors), and on 502/503/504 only for the idempotent writes (``compose.update``,
  ``compose.saveEnvironment``, ...). ``compose.deploy``, ``compose.redeploy``, ``compose.create``
  and ``project.create`` are never re-sent once they may have reached the server.
* Error messages carry the procedure and Dokploy's own message, never the request body, never
  the API key (nor any value registered with ``redact``).
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests import exceptions as rexc

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_POSTS",
    "DeploymentFailed",
    "DeploymentTimeout",
    "DokployAmbiguous",
    "DokployClient",
    "DokployConfigError",
    "DokployConflict",
    "DokployConnectionError",
    "DokployError",
    "DokployForbidden",
    "DokployNotFound",
    "DokployProtocolError",
    "DokployServerError",
    "DokployUnauthorized",
    "DokployValidationError",
    "check_base_url",
]

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
    }
)
FINAL_DEPLOY_STATUSES = frozenset({"done", "error", "cancelled"})
_EXCERPT = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_UNAUTHORIZED_HINT = (
    "the API key is missing, wrong, expired or rate-limited "
    "(Dokploy answers all of these with the same 401; keys minted through the API "
    "without rateLimitEnabled=false allow only a few calls a day)"
)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class DokployError(Exception):
    """Root of every error this client raises. ``str()`` is a one-line summary (log tails follow it)."""

    def __init__(
        self,
        message: str,
        *,
        procedure: str | None = None,
        status: int | None = None,
        dokploy_message: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.procedure = procedure
        self.status = status
        self.dokploy_message = dokploy_message
        self.code = code

    def __str__(self) -> str:
        return self.message

    def is_client_error(self) -> bool:
        return self.status is not None and 400 <= self.status < 500

    def is_server_error(self) -> bool:
        return self.status is not None and self.status >= 500


class DokployConfigError(DokployError, ValueError):
    """The client was given something unusable (bad URL, plain http to a remote host, empty key)."""


class DokployUnauthorized(DokployError):
    """401: key missing, wrong, expired or rate-limited (indistinguishable), or no access to the object."""


class DokployForbidden(DokployError):
    """403."""


class DokployNotFound(DokployError):
    """404, or a mutation that matched no row (``compose.update`` answers 200 with an empty body)."""


class DokployConflict(DokployError):
    """409."""


class DokployValidationError(DokployError):
    """400; ``field_errors`` maps a field path to Dokploy's messages for it."""

    def __init__(self, message: str, *, field_errors: Mapping[str, list[str]] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field_errors: dict[str, list[str]] = dict(field_errors or {})


class DokployServerError(DokployError):
    """5xx (after retries, where retries are allowed)."""


class DokployConnectionError(DokployError):
    """No HTTP answer: connection refused, DNS, TLS, timeout. ``maybe_sent`` says whether the server may have acted."""

    def __init__(self, message: str, *, maybe_sent: bool, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.maybe_sent = maybe_sent


class DokployProtocolError(DokployError):
    """A 2xx answer that is not what Dokploy sends (not JSON, wrong shape) or an unexpected redirect."""


class DokployAmbiguous(DokployError):
    """A name matches more than one object (Dokploy does not enforce unique names); nothing is guessed."""


class DeploymentFailed(DokployError):
    """A deployment ended in ``error`` or ``cancelled``; carries its id, status and the last log lines."""

    def __init__(self, message: str, *, deployment_id: str | None, deployment_status: str, log_tail: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.deployment_id = deployment_id
        self.deployment_status = deployment_status
        self.log_tail = log_tail


class DeploymentTimeout(DeploymentFailed):
    """No new deployment finished within the timeout (the server may still be working on it)."""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def check_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """Return the normalised base URL (no trailing ``/`` or ``/api``) or raise DokployConfigError."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise DokployConfigError("dokploy_url: is required (e.g. https://dokploy.example.com)")
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DokployConfigError(f"dokploy_url: should start with https:// (got scheme {parts.scheme or 'none'!r})")
    if not parts.hostname:
        raise DokployConfigError("dokploy_url: has no host name")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise DokployConfigError("dokploy_url: should be scheme://host[:port][/path] without credentials, query or fragment")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise DokployConfigError(
            f"dokploy_url: refusing plain http:// to {parts.hostname}: the API key would travel unencrypted; "
            "use https:// or set allow_insecure_http=True"
        )
    if url.endswith("/api"):
        url = url[: -len("/api")]
    return url


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _excerpt(text: str, limit: int = _EXCERPT) -> str:
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _surely_not_sent(exc: BaseException) -> bool:
    """True when the error happened before any byte of the request could reach the server."""
    if isinstance(exc, rexc.ConnectTimeout):
        return True
    if isinstance(exc, rexc.SSLError | rexc.ProxyError):
        return False
    if not isinstance(exc, rexc.ConnectionError):
        return False
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


class _Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, values: Iterable[str], *, min_len: int = 4) -> None:
        for v in values:
            if isinstance(v, str) and len(v) >= min_len:
                self._values.add(v)

    def __call__(self, text: str) -> str:
        for v in sorted(self._values, key=len, reverse=True):
            if v in text:
                text = text.replace(v, "***")
        return text


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


class DokployClient:
    """Dokploy REST client: one session, ``x-api-key``, timeouts, safe retries, typed errors."""

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
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        redact: Iterable[str] = (),
    ) -> None:
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        if not isinstance(api_key, str) or not api_key.strip():
            raise DokployConfigError("api_key: is required (a Dokploy API key, sent as x-api-key)")
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.session = session or requests.Session()
        self.sleep = sleep
        self.clock = clock
        self.jitter = jitter
        self._redact = _Redactor()
        self._redact.add([api_key], min_len=1)
        self._redact.add(redact)

    def __repr__(self) -> str:
        return f"DokployClient({self.base_url!r}, api_key=***)"

    def __getstate__(self) -> None:
        raise TypeError("DokployClient holds a session and a key: build it where it is used, do not pickle it")

    def add_redactions(self, values: Iterable[str]) -> None:
        """Never let these strings (e.g. env values) appear in an error message."""
        self._redact.add(values)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> DokployClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- transport

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
            retry_after: float | None = None
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except rexc.SSLError as exc:
                raise self._connection_error(procedure, exc, not_sent=True, attempts=attempt + 1) from None
            except rexc.RequestException as exc:
                not_sent = _surely_not_sent(exc)
                transient = isinstance(exc, rexc.ConnectionError | rexc.Timeout | rexc.ChunkedEncodingError)
                retryable = not_sent or (method == "GET" and transient)
                if retryable and attempt < self.max_retries:
                    self._backoff(attempt, None)
                    attempt += 1
                    continue
                raise self._connection_error(procedure, exc, not_sent=not_sent, attempts=attempt + 1) from None
            status = resp.status_code
            if status in RETRY_STATUSES and (method == "GET" or idempotent) and attempt < self.max_retries:
                retry_after = _retry_after(resp)
                resp.close()
                self._backoff(attempt, retry_after)
                attempt += 1
                continue
            return self._handle(procedure, resp)

    def _backoff(self, attempt: int, retry_after: float | None) -> None:
        base = min(self.max_backoff, self.backoff * (2**attempt))
        delay = base / 2 + self.jitter() * base / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        self.sleep(delay)

    def _connection_error(self, procedure: str, exc: BaseException, *, not_sent: bool, attempts: int) -> DokployConnectionError:
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
        msg = self._redact(f"{procedure}: {what} ({self.base_url}){tries}{sent}")
        return DokployConnectionError(msg, procedure=procedure, maybe_sent=not not_sent)

    def _handle(self, procedure: str, resp: requests.Response) -> Any:
        status = resp.status_code
        raw = resp.content or b""
        if 200 <= status < 300:
            if not raw.strip():
                return None
            try:
                return json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise DokployProtocolError(f"{procedure}: answer is not JSON ({status})", procedure=procedure, status=status) from None
        if 300 <= status < 400:
            where = _excerpt(resp.headers.get("Location", ""), 100)
            raise DokployProtocolError(
                self._redact(f"{procedure}: unexpected redirect ({status}) to {where or '?'}; set dokploy_url to the final URL"),
                procedure=procedure,
                status=status,
            )
        return self._raise_for(procedure, status, raw, resp.reason)

    def _raise_for(self, procedure: str, status: int, raw: bytes, reason: str | None) -> Any:
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
            field_errors = _field_errors(body)
        if dmsg is None:
            dmsg = _excerpt(text) if text.strip() and not isinstance(body, dict | list) else (reason or "no message")
        dmsg = _excerpt(self._redact(dmsg))
        head = f"{procedure}: {dmsg} ({status})"
        kw: dict[str, Any] = {"procedure": procedure, "status": status, "dokploy_message": dmsg, "code": code}
        if status == 401:
            hint = _UNAUTHORIZED_HINT if dmsg == "Unauthorized" else "the key has no access to this object"
            raise DokployUnauthorized(self._redact(f"{head}: {hint}"), **kw)
        if status == 400:
            detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in field_errors.items())
            msg = f"{head}: {detail}" if detail else head
            raise DokployValidationError(self._redact(_excerpt(msg, 600)), field_errors=field_errors, **kw)
        if status == 403:
            raise DokployForbidden(head, **kw)
        if status == 404:
            raise DokployNotFound(head, **kw)
        if status == 409:
            raise DokployConflict(head, **kw)
        if status >= 500:
            raise DokployServerError(head, **kw)
        raise DokployError(head, **kw)

    # ---------------------------------------------------------------- project

    def project_all(self) -> list[dict[str, Any]]:
        return _as_list(self.query("project.all"), "project.all")

    def project_one(self, project_id: str) -> dict[str, Any]:
        return _as_dict(self.query("project.one", projectId=project_id), "project.one")

    def project_create(self, name: str, description: str | None = None) -> dict[str, Any]:
        """Create a project; returns ``{"project": {...}, "environment": {...production...}}``. Never re-sent."""
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        return _as_dict(self.mutate("project.create", body, idempotent=False), "project.create")

    def project_remove(self, project_id: str) -> Any:
        return self.mutate("project.remove", {"projectId": project_id}, idempotent=False)

    # ---------------------------------------------------------------- environment

    def environment_one(self, environment_id: str) -> dict[str, Any]:
        return _as_dict(self.query("environment.one", environmentId=environment_id), "environment.one")

    def environment_by_project_id(self, project_id: str) -> list[dict[str, Any]]:
        return _as_list(self.query("environment.byProjectId", projectId=project_id), "environment.byProjectId")

    def environment_create(self, project_id: str, name: str, description: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"projectId": project_id, "name": name}
        if description is not None:
            body["description"] = description
        return _as_dict(self.mutate("environment.create", body, idempotent=False), "environment.create")

    def environment_remove(self, environment_id: str) -> Any:
        return self.mutate("environment.remove", {"environmentId": environment_id}, idempotent=False)

    # ---------------------------------------------------------------- compose

    def compose_create(
        self,
        name: str,
        environment_id: str,
        *,
        compose_type: str = "docker-compose",
        source_type: str | None = "raw",
        compose_file: str | None = None,
        description: str | None = None,
        app_name: str | None = None,
    ) -> dict[str, Any]:
        """Create a compose service (does not deploy). Never re-sent once it may have arrived."""
        body: dict[str, Any] = {"name": name, "environmentId": environment_id, "composeType": compose_type}
        for key, value in (("sourceType", source_type), ("composeFile", compose_file), ("description", description), ("appName", app_name)):
            if value is not None:
                body[key] = value
        return _as_dict(self.mutate("compose.create", body, idempotent=False), "compose.create")

    def compose_one(self, compose_id: str) -> dict[str, Any]:
        return _as_dict(self.query("compose.one", composeId=compose_id), "compose.one")

    def compose_update(self, compose_id: str, **fields: Any) -> dict[str, Any]:
        """Partial update (snake_case or camelCase keys). An unknown id raises DokployNotFound."""
        body = {"composeId": compose_id, **{_camel(k): v for k, v in fields.items()}}
        row = self.mutate("compose.update", body, idempotent=True)
        if row is None:
            raise DokployNotFound(
                "compose.update: Compose not found (empty answer: no compose has this id)",
                procedure="compose.update",
                status=200,
                dokploy_message="Compose not found",
            )
        return _as_dict(row, "compose.update")

    def compose_save_environment(self, compose_id: str, env: str | None, create_env_file: bool = True) -> Any:
        body = {"composeId": compose_id, "env": env, "createEnvFile": bool(create_env_file)}
        return self.mutate("compose.saveEnvironment", body, idempotent=True)

    def compose_deploy(self, compose_id: str, title: str | None = None, description: str | None = None) -> Any:
        """Queue a deployment (asynchronous). Never re-sent once it may have arrived."""
        return self.mutate("compose.deploy", _deploy_body(compose_id, title, description), idempotent=False)

    def compose_redeploy(self, compose_id: str, title: str | None = None, description: str | None = None) -> Any:
        """Queue a rebuild deployment (asynchronous). Never re-sent once it may have arrived."""
        return self.mutate("compose.redeploy", _deploy_body(compose_id, title, description), idempotent=False)

    def compose_delete(self, compose_id: str, delete_volumes: bool = False) -> Any:
        return self.mutate("compose.delete", {"composeId": compose_id, "deleteVolumes": bool(delete_volumes)}, idempotent=False)

    def compose_stop(self, compose_id: str) -> Any:
        return self.mutate("compose.stop", {"composeId": compose_id})

    def compose_start(self, compose_id: str) -> Any:
        return self.mutate("compose.start", {"composeId": compose_id})

    # ---------------------------------------------------------------- deployment

    def deployment_all_by_compose(self, compose_id: str) -> list[dict[str, Any]]:
        """Deployment rows of a compose, newest first (``[]`` for an unknown id)."""
        rows = _as_list(self.query("deployment.allByCompose", composeId=compose_id), "deployment.allByCompose")
        return [r for r in rows if isinstance(r, dict) and isinstance(r.get("deploymentId"), str)]

    def deployment_read_logs(self, deployment_id: str, tail: int = 100) -> str:
        text = self.query("deployment.readLogs", deploymentId=deployment_id, tail=max(1, min(int(tail), 10000)))
        return text if isinstance(text, str) else ""

    # ---------------------------------------------------------------- registry

    def registry_all(self) -> list[dict[str, Any]]:
        return _as_list(self.query("registry.all"), "registry.all")

    def registry_one(self, registry_id: str) -> dict[str, Any]:
        return _as_dict(self.query("registry.one", registryId=registry_id), "registry.one")

    def registry_create(
        self,
        registry_name: str,
        registry_url: str,
        username: str,
        password: str,
        *,
        registry_type: str = "cloud",
        image_prefix: str | None = None,
        server_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a registry (Dokploy runs ``docker login``); the answer holds the password: do not log it."""
        body: dict[str, Any] = {
            "registryName": registry_name,
            "registryUrl": registry_url,
            "username": username,
            "password": password,
            "registryType": registry_type,
            "imagePrefix": image_prefix,
        }
        if server_id is not None:
            body["serverId"] = server_id
        return _as_dict(self.mutate("registry.create", body, idempotent=False), "registry.create")

    def registry_update(self, registry_id: str, **fields: Any) -> Any:
        body = {"registryId": registry_id, **{_camel(k): v for k, v in fields.items()}}
        return self.mutate("registry.update", body, idempotent=True)

    def registry_remove(self, registry_id: str) -> Any:
        return self.mutate("registry.remove", {"registryId": registry_id}, idempotent=False)

    # ---------------------------------------------------------------- flows

    def find_project(self, name: str) -> dict[str, Any] | None:
        """The project with this name, or None; two projects with the name raise DokployAmbiguous."""
        matches = [p for p in self.project_all() if isinstance(p, dict) and p.get("name") == name]
        return _at_most_one(matches, "projectId", "project.all", f"projects are named {name!r}", "; rename or remove all but one")

    def find_or_create_project(self, name: str, description: str | None = None) -> dict[str, Any]:
        """Return the project (with its ``environments``), creating it (and its production env) if missing."""
        found = self.find_project(name)
        if found is not None:
            found.setdefault("environments", [])
            return found
        created = self.project_create(name, description)
        project = created.get("project")
        env = created.get("environment")
        if not isinstance(project, dict) or not isinstance(project.get("projectId"), str):
            raise DokployProtocolError("project.create: answer has no project.projectId", procedure="project.create")
        project = dict(project)
        project["environments"] = [env] if isinstance(env, dict) else []
        return project

    def find_or_create_environment(self, project: Mapping[str, Any] | str, name: str, description: str | None = None) -> dict[str, Any]:
        """Return the environment ``name`` of ``project`` (a project dict or id), creating it if missing.

        ``"production"`` is the project's default environment (``isDefault``), which every project has.
        """
        if isinstance(project, str):
            project = self.project_one(project)
        project_id = project.get("projectId")
        if not isinstance(project_id, str):
            raise DokployProtocolError("project has no projectId")
        envs = project.get("environments")
        if not isinstance(envs, list):
            envs = self.project_one(project_id).get("environments") or []
        envs = [e for e in envs if isinstance(e, dict)]
        if name == "production":
            default = [e for e in envs if e.get("isDefault") is True]
            matches = default or [e for e in envs if e.get("name") == name]
        else:
            matches = [e for e in envs if e.get("name") == name]
        if len(matches) > 1:
            ids = ", ".join(str(e.get("environmentId")) for e in matches)
            raise DokployAmbiguous(f"project {project.get('name')!r} has {len(matches)} environments named {name!r} ({ids})")
        if matches:
            return matches[0]
        if name == "production":
            raise DokployProtocolError(f"project {project.get('name')!r} has no default (production) environment")
        return self.environment_create(project_id, name, description)

    def find_compose(self, environment_id: str, name: str) -> dict[str, Any] | None:
        """The compose named ``name`` in the environment (summary row with ``composeId``), or None."""
        env = self.environment_one(environment_id)
        rows = env.get("compose") if isinstance(env.get("compose"), list) else []
        matches = [c for c in rows if isinstance(c, dict) and c.get("name") == name]
        return _at_most_one(matches, "composeId", "environment.one", f"composes are named {name!r} in environment {environment_id}")

    def deploy_and_wait(
        self,
        compose_id: str,
        *,
        redeploy: bool = False,
        title: str | None = None,
        description: str | None = None,
        timeout: float = 600.0,
        poll_interval: float = 2.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        log_lines: int = 40,
        unsure_grace: float = 15.0,
    ) -> dict[str, Any]:
        """Queue exactly one deployment and wait for *that* deployment to finish; return its row.

        The ids present before the call are recorded, so a previous deployment's result is never
        mistaken for this one's. Raises DeploymentFailed (``error``/``cancelled``, with the log tail)
        or DeploymentTimeout. If the deploy request itself failed in a way that may still have
        queued a job (5xx, broken connection), the deploy is NOT sent again: a deployment that
        shows up within ``unsure_grace`` seconds is followed; otherwise the original error is raised.
        """
        clock = clock or self.clock
        sleep = sleep or self.sleep
        procedure = "compose.redeploy" if redeploy else "compose.deploy"
        before = {r["deploymentId"] for r in self.deployment_all_by_compose(compose_id)}
        title = title or f"pulumi {uuid.uuid4().hex[:12]}"
        unsure: DokployError | None = None
        started = clock()
        try:
            send = self.compose_redeploy if redeploy else self.compose_deploy
            send(compose_id, title=title, description=description)
        except (DokployServerError, DokployConnectionError) as exc:
            if isinstance(exc, DokployConnectionError) and not exc.maybe_sent:
                raise
            unsure = exc
        deadline = started + (min(unsure_grace, timeout) if unsure else timeout)
        current: dict[str, Any] | None = None
        last_poll_error: DokployError | None = None
        while True:
            try:
                rows = self.deployment_all_by_compose(compose_id)
                last_poll_error = None
            except (DokployServerError, DokployConnectionError, DokployProtocolError) as exc:
                rows, last_poll_error = None, exc
            if rows is not None:
                fresh = [r for r in rows if r["deploymentId"] not in before]
                if fresh:
                    titled = [r for r in fresh if r.get("title") == title]
                    current = titled[0] if titled else fresh[-1]
                    status = current.get("status")
                    if status == "done":
                        return current
                    if status in FINAL_DEPLOY_STATUSES:
                        raise self._deployment_failed(procedure, compose_id, current, log_lines)
                    if unsure is not None:  # it was queued after all: follow it with the full timeout
                        unsure = None
                        deadline = started + timeout
            if clock() >= deadline:
                break
            sleep(max(0.0, min(poll_interval, deadline - clock())))
        if unsure is not None and current is None:
            raise type(unsure)(
                self._redact(
                    f"{unsure}; no deployment appeared within {unsure_grace:g}s, so nothing was deployed; "
                    "the deploy was not re-sent (run again)"
                ),
                procedure=unsure.procedure,
                status=unsure.status,
                dokploy_message=unsure.dokploy_message,
                code=unsure.code,
                **({"maybe_sent": True} if isinstance(unsure, DokployConnectionError) else {}),
            )
        waited = clock() - started
        if current is None:
            extra = f" (last poll error: {last_poll_error})" if last_poll_error else ""
            raise DeploymentTimeout(
                self._redact(
                    f"{procedure}: no deployment of compose {compose_id} started within {waited:.0f}s "
                    f"(job still queued behind another deploy?){extra}"
                ),
                procedure=procedure,
                deployment_id=None,
                deployment_status="queued",
                log_tail="",
            )
        tail = self._log_tail(current["deploymentId"], log_lines)
        raise DeploymentTimeout(
            self._redact(
                f"{procedure}: deployment {current['deploymentId']} of compose {compose_id} still "
                f"{current.get('status')!r} after {waited:.0f}s (Dokploy keeps running it)" + _format_tail(tail)
            ),
            procedure=procedure,
            deployment_id=current["deploymentId"],
            deployment_status=str(current.get("status")),
            log_tail=tail,
        )

    def _log_tail(self, deployment_id: str, lines: int) -> str:
        try:
            text = self.deployment_read_logs(deployment_id, tail=lines)
        except DokployError as exc:
            return f"(could not read the log: {exc})"
        kept = [_excerpt(line, 300) for line in text.splitlines() if line.strip()][-lines:]
        return self._redact("\n".join(kept))

    def _deployment_failed(self, procedure: str, compose_id: str, row: Mapping[str, Any], lines: int) -> DeploymentFailed:
        dep_id = str(row.get("deploymentId"))
        status = str(row.get("status"))
        tail = self._log_tail(dep_id, lines)
        err = row.get("errorMessage")
        err_part = f": {_excerpt(str(err))}" if err else ""
        return DeploymentFailed(
            self._redact(f"{procedure}: deployment {dep_id} of compose {compose_id} ended {status!r}{err_part}" + _format_tail(tail)),
            procedure=procedure,
            deployment_id=dep_id,
            deployment_status=status,
            log_tail=tail,
        )


def _format_tail(tail: str) -> str:
    if not tail:
        return "; the deployment log is empty"
    return "; last log lines:\n    " + "\n    ".join(tail.splitlines())


def _deploy_body(compose_id: str, title: str | None, description: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"composeId": compose_id}
    if title is not None:
        body["title"] = title
    if description is not None:
        body["description"] = description
    return body


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


def _field_errors(body: Mapping[str, Any]) -> dict[str, list[str]]:
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
                out.setdefault(key, []).append(_excerpt(msg))
    if not out:
        data = body.get("data")
        zod = data.get("zodError") if isinstance(data, dict) else None
        fields = zod.get("fieldErrors") if isinstance(zod, dict) else None
        if isinstance(fields, dict):
            for key, msgs in fields.items():
                if isinstance(msgs, list):
                    out[str(key)] = [_excerpt(str(m)) for m in msgs]
    return out


def _as_dict(value: Any, procedure: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DokployProtocolError(f"{procedure}: expected a JSON object, got {type(value).__name__}", procedure=procedure)
    return value


def _as_list(value: Any, procedure: str) -> list[Any]:
    if not isinstance(value, list):
        raise DokployProtocolError(f"{procedure}: expected a JSON array, got {type(value).__name__}", procedure=procedure)
    return value


def _at_most_one(matches: list[dict[str, Any]], id_key: str, procedure: str, what: str, hint: str = "") -> dict[str, Any] | None:
    """The single match, None for none; several is DokployAmbiguous (names are not unique in Dokploy: never guess)."""
    if len(matches) > 1:
        ids = ", ".join(str(m.get(id_key)) for m in matches)
        raise DokployAmbiguous(f"{procedure}: {len(matches)} {what} ({ids}){hint}", procedure=procedure)
    return matches[0] if matches else None
