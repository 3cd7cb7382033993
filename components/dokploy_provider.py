"""Pulumi dynamic resources for Dokploy: a compose project (deployed and verified) and a registry.

``ComposeProject`` reconciles one Dokploy compose service: project -> environment -> compose
(raw YAML + dotenv) -> one deployment awaited to its end -> health URLs verified.

Provider guarantees (``ComposeProjectProvider``):

* check: every input is validated; a failure names the property and never echoes a secret.
* diff: works on the stored outputs only and makes no API call. Names, compose type and the
  Dokploy URL force a replacement (deleted before the new one is created, since both would be
  the same Dokploy compose); compose file, env (by hash), services, health URLs and settings
  are updates. Unknown preview values count as changed.
* create: finds or creates the project and environment, adopts a compose of the same name left
  by an earlier failed create, writes the YAML and the env, deploys once, waits, verifies health.
  If it fails, the compose stays in Dokploy and the next ``pulumi up`` adopts it.
* update: writes only what differs, deploys once (redeploy), waits, verifies health. On failure
  with ``rollback_on_failure`` the previous compose file and env (kept in state, env as a
  secret) are written back and redeployed before the error is raised. A failed update keeps the
  old state, so the next ``pulumi up`` tries again.
* read: reports drift made in Dokploy's UI (compose file, env, source/compose type, a failed or
  stopped last deployment) so that the next ``up`` repairs it; a compose deleted there is gone.
* delete: ``compose.delete`` (volumes per ``delete_volumes``); an already deleted compose is fine.
* The API key is never returned in outputs; read/delete (which only see the outputs) take it
  from the stack config (``bizosaas:dokployApiKey``) or ``DOKPLOY_API_KEY``. The key and the env
  values never appear in an error message.
* The provider object holds no client, session or secret: it is pickled into the state.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pulumi
from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from dokploy_api.client import (
    DeploymentFailed,
    DokployClient,
    DokployConfigError,
    DokployError,
    DokployNotFound,
    DokployValidationError,
    check_base_url,
)
from probes.health import HealthCheckFailed, verify_health

__all__ = [
    "COMPOSE_TYPES",
    "ComposeProject",
    "ComposeProjectArgs",
    "ComposeProjectProvider",
    "DokployRegistry",
    "RegistryArgs",
    "RegistryProvider",
    "sha256_text",
]

COMPOSE_TYPES = ("docker-compose", "stack")
PROVIDER_KEY = "__provider"
_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_UNKNOWN_STR = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_ENV_LINE = re.compile(r"^(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*=")
API_KEY_CONFIG_KEYS = ("bizosaas:dokployApiKey", "dokployApiKey")
API_KEY_ENV = "DOKPLOY_API_KEY"

COMPOSE_INPUTS = (
    "dokploy_url",
    "api_key",
    "project_name",
    "environment_name",
    "compose_name",
    "compose_file",
    "env",
    "services",
    "health_urls",
    "compose_type",
    "deploy_timeout",
    "poll_interval",
    "health_timeout",
    "rollback_on_failure",
    "allow_insecure_http",
    "delete_volumes",
)
COMPOSE_COMPUTED = (
    "project_id",
    "environment_id",
    "compose_id",
    "app_name",
    "deployment_id",
    "deployment_status",
    "deployment_finished_at",
    "healthy",
    "verified_at",
    "compose_sha256",
    "env_sha256",
    "drift",
)
COMPOSE_REPLACE_KEYS = ("dokploy_url", "project_name", "environment_name", "compose_name", "compose_type")
COMPOSE_UPDATE_KEYS = (
    "services",
    "health_urls",
    "deploy_timeout",
    "poll_interval",
    "health_timeout",
    "rollback_on_failure",
    "allow_insecure_http",
    "delete_volumes",
)
COMPOSE_SECRET_OUTPUTS = ["env"]


# --------------------------------------------------------------------------------------------
# small helpers (pure)
# --------------------------------------------------------------------------------------------


def sha256_text(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def _is_unknown(value: Any) -> bool:
    if isinstance(value, pulumi.output.Unknown) or value == _UNKNOWN_STR:
        return True
    if isinstance(value, Mapping):
        return any(_is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_is_unknown(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    """Unwrap RPC secret envelopes (the engine sends plain values; this is a safety net)."""
    if isinstance(value, Mapping):
        if value.get(_SECRET_SIG_KEY) == _SECRET_SIG and "value" in value:
            return _plain(value["value"])
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _props(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in _plain(dict(raw or {})).items() if k != PROVIDER_KEY}


def _norm_url(url: Any) -> Any:
    return url.strip().rstrip("/") if isinstance(url, str) else url


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return _jsonish(a) == _jsonish(b)


def _jsonish(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonish(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonish(v) for v in value]
    return value


def env_values(env: str | None) -> list[str]:
    """Values of a dotenv text worth redacting (long or token-like ones; short words stay readable)."""
    out: list[str] = []
    for line in (env or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        value = line.split("=", 1)[1].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if len(value) >= 8 or (len(value) >= 6 and not value.isalpha()):
            out.append(value)
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _append(exc: BaseException, text: str) -> BaseException:
    msg = f"{exc}{text}"
    if isinstance(exc, DokployError):
        exc.message = msg
    exc.args = (msg,)
    return exc


def _scrub_exception(exc: BaseException, secrets: Iterable[str]) -> None:
    values = [s for s in secrets if isinstance(s, str) and s]
    text = str(exc)
    if not any(v in text for v in values):
        return
    for v in sorted(values, key=len, reverse=True):
        text = text.replace(v, "***")
    if isinstance(exc, DokployError):
        exc.message = text
    exc.args = (text,)


def _guard(secrets_of: Callable[..., Iterable[str]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a provider method: whatever escapes has secrets scrubbed and no chained context."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any) -> Any:
            try:
                return fn(self, *args)
            except Exception as exc:
                secrets: list[str] = []
                for arg in args:
                    if isinstance(arg, Mapping):
                        secrets.extend(secrets_of(_props(arg)))
                for extra in (getattr(self, "_configured_key", None), os.environ.get(API_KEY_ENV)):
                    if extra:
                        secrets.append(extra)
                _scrub_exception(exc, secrets)
                raise exc from None

        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        wrapper.__qualname__ = fn.__qualname__
        return wrapper

    return deco


def _compose_secrets(props: Mapping[str, Any]) -> list[str]:
    out = [props["api_key"]] if isinstance(props.get("api_key"), str) else []
    if isinstance(props.get("env"), str):
        out.extend(env_values(props["env"]))
    return out


def _registry_secrets(props: Mapping[str, Any]) -> list[str]:
    return [props[k] for k in ("api_key", "password") if isinstance(props.get(k), str) and props[k]]


@dataclass
class _KeySource:
    """Resolves the API key (from props on create/update/import, else stack config, else the
    environment) and builds the Dokploy client; plain picklable fields only."""

    api_key_config_keys: tuple[str, ...] = API_KEY_CONFIG_KEYS
    api_key_env: str = API_KEY_ENV
    client_options: dict[str, Any] = field(default_factory=dict)
    """Extra DokployClient keyword arguments (tests: timeout, backoff); plain, picklable values only."""
    _configured_key: str | None = field(default=None, repr=False)

    serialize_as_secret_always = True

    def _redactions(self, props: Mapping[str, Any]) -> list[str]:
        """Secret values that must never appear in an error message (besides the key)."""
        return []

    def _client(self, props: Mapping[str, Any], what: str) -> DokployClient:
        return DokployClient(
            str(props.get("dokploy_url") or ""),
            self._api_key(props, what),
            allow_insecure_http=bool(props.get("allow_insecure_http")),
            redact=self._redactions(props),
            **self.client_options,
        )

    def configure(self, req: ConfigureRequest) -> None:
        for key in self.api_key_config_keys:
            try:
                value = req.config.get(key)
            except Exception:  # a malformed config must not break the provider
                value = None
            value = _plain(value)
            if isinstance(value, str) and value:
                self._configured_key = value
                return

    def _api_key(self, props: Mapping[str, Any], what: str) -> str:
        key = props.get("api_key")
        if isinstance(key, str) and key:
            return key
        if self._configured_key:
            return self._configured_key
        env_key = os.environ.get(self.api_key_env)
        if env_key:
            return env_key
        raise DokployConfigError(
            f"{what}: the Dokploy API key is not kept in the state (by design); provide it as stack config "
            f"({self.api_key_config_keys[0]}, secret) or the {self.api_key_env} environment variable"
        )


# --------------------------------------------------------------------------------------------
# ComposeProject
# --------------------------------------------------------------------------------------------


@dataclass
class ComposeProjectArgs:
    """Inputs of one Dokploy compose project."""

    dokploy_url: str
    """Dokploy base URL (https://...; plain http only to loopback unless allow_insecure_http)."""
    api_key: Input[str]
    """Dokploy API key (secret; never stored in outputs)."""
    project_name: str
    """Dokploy project to find or create."""
    environment_name: str
    """Environment inside the project; "production" is the project's default environment."""
    compose_name: str
    """Compose service name inside the environment (its identity, with the project and environment)."""
    compose_file: Input[str]
    """Rendered compose YAML; holds no secret values (it refers to ${NAME} from the env)."""
    env: Input[str]
    """Dotenv text (KEY=value lines) written beside the compose file; secret."""
    services: Input[Mapping[str, Mapping[str, Any]]]
    """Per-service summary shown in `pulumi preview --diff` (image digest, ports, env keys, health)."""
    health_urls: Input[Mapping[str, str]]
    """service -> URL that must answer 2xx after a deploy ({} = no check)."""
    compose_type: str = "docker-compose"
    deploy_timeout: float = 600.0
    poll_interval: float = 2.0
    health_timeout: float = 120.0
    rollback_on_failure: bool = False
    allow_insecure_http: bool = False
    delete_volumes: bool = False


@dataclass
class ComposeProjectProvider(_KeySource, ResourceProvider):
    """Dynamic provider behind ComposeProject (see the module docstring for its guarantees)."""

    health_options: dict[str, Any] = field(default_factory=dict)
    """Extra verify_health keyword arguments (tests: interval)."""
    deploy_options: dict[str, Any] = field(default_factory=dict)
    """Extra deploy_and_wait keyword arguments (tests: unsure_grace, log_lines)."""

    # ---------------------------------------------------------------- plumbing

    def _redactions(self, props: Mapping[str, Any]) -> list[str]:
        return env_values(props.get("env") if isinstance(props.get("env"), str) else "")

    def _verify(self, props: Mapping[str, Any]) -> None:
        urls = props.get("health_urls") or {}
        verify_health(
            dict(urls),
            timeout=float(props.get("health_timeout", 120.0)),
            redact=[*_compose_secrets(props)],
            **self.health_options,
        )

    def _deploy(self, client: DokployClient, compose_id: str, props: Mapping[str, Any], *, redeploy: bool, why: str) -> dict[str, Any]:
        return client.deploy_and_wait(
            compose_id,
            redeploy=redeploy,
            title=f"pulumi {why} {sha256_text(props.get('compose_file'))[:12]}",
            description=f"pulumi: {props.get('project_name')}/{props.get('environment_name')}/{props.get('compose_name')}",
            timeout=float(props.get("deploy_timeout", 600.0)),
            poll_interval=float(props.get("poll_interval", 2.0)),
            **self.deploy_options,
        )

    @staticmethod
    def _write(client: DokployClient, compose_id: str, props: Mapping[str, Any], live: Mapping[str, Any] | None) -> tuple[bool, bool]:
        """Write the compose file and env where Dokploy's copy differs; return (compose_written, env_written)."""
        want_file = props.get("compose_file") or ""
        want_type = props.get("compose_type") or "docker-compose"
        want_env = props.get("env") or ""
        compose_written = env_written = False
        if live is None or live.get("composeFile") != want_file or live.get("sourceType") != "raw" or live.get("composeType") != want_type:
            client.compose_update(compose_id, sourceType="raw", composeType=want_type, composeFile=want_file)
            compose_written = True
        if live is None or (live.get("env") or "") != want_env or live.get("createEnvFile") is False:
            client.compose_save_environment(compose_id, want_env, create_env_file=True)
            env_written = True
        return compose_written, env_written

    @staticmethod
    def _outputs(props: Mapping[str, Any], **computed: Any) -> dict[str, Any]:
        outs = {k: props[k] for k in COMPOSE_INPUTS if k in props and k != "api_key"}
        outs["compose_sha256"] = sha256_text(props.get("compose_file"))
        outs["env_sha256"] = sha256_text(props.get("env"))
        outs["drift"] = []
        outs.update(computed)
        return outs

    @staticmethod
    def _deployment_outputs(row: Mapping[str, Any] | None) -> dict[str, Any]:
        row = row or {}
        return {
            "deployment_id": row.get("deploymentId"),
            "deployment_status": row.get("status"),
            "deployment_finished_at": row.get("finishedAt"),
        }

    # ---------------------------------------------------------------- check

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = _props(news)
        failures: list[CheckFailure] = []

        def fail(prop: str, reason: str) -> None:
            failures.append(CheckFailure(prop, f"{prop}: {reason}"))

        def known(key: str) -> bool:
            return key in props and not _is_unknown(props[key])

        insecure = props.get("allow_insecure_http", False)
        if known("dokploy_url"):
            try:
                check_base_url(props["dokploy_url"], allow_insecure_http=bool(insecure) if not _is_unknown(insecure) else True)
            except DokployConfigError as exc:
                fail("dokploy_url", str(exc).removeprefix("dokploy_url: "))
        elif "dokploy_url" not in props:
            fail("dokploy_url", "is required")
        if "api_key" not in props:
            fail("api_key", "is required (a Dokploy API key)")
        elif known("api_key") and (not isinstance(props["api_key"], str) or not props["api_key"].strip()):
            fail("api_key", "is required (a Dokploy API key)")
        for key in ("project_name", "environment_name", "compose_name"):
            if key not in props:
                fail(key, "is required")
            elif known(key) and (not isinstance(props[key], str) or not props[key].strip()):
                fail(key, "should be a non-empty string")
            elif known(key) and props[key] != props[key].strip():
                fail(key, "should not start or end with spaces")
        if known("compose_type") and props["compose_type"] not in COMPOSE_TYPES:
            fail("compose_type", f"should be one of {', '.join(COMPOSE_TYPES)}")
        if "compose_file" not in props:
            fail("compose_file", "is required")
        elif known("compose_file") and (not isinstance(props["compose_file"], str) or not props["compose_file"].strip()):
            fail("compose_file", "should be non-empty compose YAML")
        if known("env"):
            env = props["env"]
            if env is not None and not isinstance(env, str):
                fail("env", "should be dotenv text (KEY=value lines)")
            elif isinstance(env, str):
                for n, line in enumerate(env.splitlines(), 1):
                    s = line.strip()
                    if s and not s.startswith("#") and not _ENV_LINE.match(s):
                        fail("env", f"line {n} is not KEY=value")
                        break
        if known("services"):
            svc = props["services"]
            if not isinstance(svc, Mapping) or not all(isinstance(v, Mapping) for v in svc.values()):
                fail("services", "should map each service name to a summary object")
        if known("health_urls"):
            urls = props["health_urls"]
            if not isinstance(urls, Mapping):
                fail("health_urls", "should map service names to URLs")
            else:
                for name, url in urls.items():
                    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
                        fail("health_urls", f"{name}: should be an http(s) URL")
        for key, minimum in (("deploy_timeout", 1.0), ("poll_interval", 0.01), ("health_timeout", 0.0)):
            if known(key):
                v = props[key]
                if isinstance(v, bool) or not isinstance(v, int | float) or v < minimum:
                    fail(key, f"should be a number >= {minimum:g} (seconds)")
        for key in ("rollback_on_failure", "allow_insecure_http", "delete_volumes"):
            if known(key) and not isinstance(props[key], bool):
                fail(key, "should be true or false")
        return CheckResult(news, failures)

    # ---------------------------------------------------------------- diff

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Compare the stored outputs with the new inputs; no API call."""
        old = _props(olds)
        new = _props(news)
        replaces: list[str] = []
        changed: list[str] = []
        for key in COMPOSE_REPLACE_KEYS:
            if key not in new:
                continue
            if _is_unknown(new[key]):
                changed.append(key)
            elif key in old and not _same(_norm_url(old[key]), _norm_url(new[key])):
                replaces.append(key)
        for key, hash_key in (("compose_file", "compose_sha256"), ("env", "env_sha256")):
            if key not in new:
                continue
            if _is_unknown(new[key]) or old.get(hash_key) != sha256_text(new[key]):
                changed.append(key)
        for key in COMPOSE_UPDATE_KEYS:
            if key in new and (_is_unknown(new[key]) or key not in old or not _same(old[key], new[key])):
                changed.append(key)
        if old.get("drift") or old.get("deployment_status") not in (None, "done") or old.get("healthy") is False:
            changed.append("deployment")
        return DiffResult(
            changes=bool(replaces or changed),
            replaces=replaces,
            stables=[],
            delete_before_replace=bool(replaces),
        )

    # ---------------------------------------------------------------- create

    @_guard(_compose_secrets)
    def create(self, props: dict[str, Any]) -> CreateResult:
        p = _props(props)
        with self._client(p, "create") as client:
            project = client.find_or_create_project(p["project_name"])
            environment = client.find_or_create_environment(project, p["environment_name"])
            env_id = environment["environmentId"]
            existing = client.find_compose(env_id, p["compose_name"])
            if existing is not None:
                compose_id = existing["composeId"]
                live: dict[str, Any] | None = client.compose_one(compose_id)
            else:
                row = client.compose_create(
                    p["compose_name"],
                    env_id,
                    compose_type=p.get("compose_type") or "docker-compose",
                    source_type="raw",
                    description="managed by pulumi (bizosaas-deploy)",
                )
                compose_id, live = row["composeId"], None
                app_name = row.get("appName")
            try:
                self._write(client, compose_id, p, live)
                deployment = self._deploy(client, compose_id, p, redeploy=existing is not None, why="create")
                self._verify(p)
            except Exception as exc:
                raise _append(exc, f" (compose {compose_id} stays in Dokploy; the next `pulumi up` adopts it)") from None
            if live is not None:
                app_name = live.get("appName")
        outs = self._outputs(
            p,
            project_id=project["projectId"],
            environment_id=env_id,
            compose_id=compose_id,
            app_name=app_name,
            healthy=True,
            verified_at=_now(),
            **self._deployment_outputs(deployment),
        )
        return CreateResult(compose_id, outs)

    # ---------------------------------------------------------------- update

    @_guard(_compose_secrets)
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old = _props(olds)
        new = _props(news)
        compose_changed = old.get("compose_sha256") != sha256_text(new.get("compose_file"))
        env_changed = old.get("env_sha256") != sha256_text(new.get("env"))
        must_deploy = compose_changed or env_changed or bool(old.get("drift")) or old.get("deployment_status") not in (None, "done")
        must_verify = must_deploy or old.get("healthy") is False or not _same(old.get("health_urls"), new.get("health_urls"))
        keep = {k: old[k] for k in COMPOSE_COMPUTED if k in old and k not in ("compose_sha256", "env_sha256", "drift")}
        if not must_deploy and not must_verify:
            return UpdateResult(self._outputs(new, **{**keep, "drift": []}))
        with self._client(new, "update") as client:
            try:
                live = client.compose_one(_id)
            except DokployNotFound as exc:
                raise _append(exc, "; it was deleted in Dokploy: run `pulumi refresh`, then `pulumi up` creates it again") from None
            deployment: dict[str, Any] | None = None
            try:
                if must_deploy:
                    self._write(client, _id, new, live)
                    deployment = self._deploy(client, _id, new, redeploy=True, why="update")
                self._verify(new)
            except (DeploymentFailed, HealthCheckFailed) as exc:
                if new.get("rollback_on_failure") and must_deploy:
                    raise _append(exc, self._rollback(client, _id, old, new, compose_changed, env_changed)) from None
                raise
        computed = {**keep, "drift": [], "healthy": True, "verified_at": _now(), "app_name": live.get("appName") or keep.get("app_name")}
        if deployment is not None:
            computed.update(self._deployment_outputs(deployment))
        return UpdateResult(self._outputs(new, **computed))

    def _rollback(
        self,
        client: DokployClient,
        compose_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        compose_changed: bool,
        env_changed: bool,
    ) -> str:
        """Write the previous compose file/env back and redeploy; return a sentence for the error message."""
        notes: list[str] = []
        try:
            if compose_changed and isinstance(old.get("compose_file"), str):
                client.compose_update(
                    compose_id,
                    sourceType="raw",
                    composeType=old.get("compose_type") or new.get("compose_type") or "docker-compose",
                    composeFile=old["compose_file"],
                )
            elif compose_changed:
                notes.append("the previous compose file is not in the state, so it was not restored")
            if env_changed and isinstance(old.get("env"), str):
                client.compose_save_environment(compose_id, old["env"], create_env_file=True)
            elif env_changed:
                notes.append("the previous env is not in the state, so it was not restored")
            previous = {**new, "compose_file": old.get("compose_file", new.get("compose_file"))}
            row = self._deploy(client, compose_id, previous, redeploy=True, why="rollback")
        except Exception as exc:  # the rollback's own failure is reported with the original
            return f"\nrollback to the previous version FAILED too: {exc}"
        extra = f" ({'; '.join(notes)})" if notes else ""
        return f"\nrolled back to the previous compose file and env: deployment {row.get('deploymentId')} {row.get('status')}{extra}"

    # ---------------------------------------------------------------- read

    @_guard(_compose_secrets)
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        p = _props(props)
        with self._client(p, "read") as client:
            try:
                live = client.compose_one(id_)
            except DokployNotFound:
                return ReadResult("", {})
        outs = dict(p)
        outs.pop("api_key", None)
        environment = live.get("environment") if isinstance(live.get("environment"), dict) else {}
        project = environment.get("project") if isinstance(environment.get("project"), dict) else {}
        # Identity: filled from Dokploy when missing (import), otherwise kept as declared.
        for key, value in (
            ("compose_name", live.get("name")),
            ("environment_name", "production" if environment.get("isDefault") else environment.get("name")),
            ("project_name", project.get("name")),
            ("compose_type", live.get("composeType")),
        ):
            if key not in outs and value is not None:
                outs[key] = value
        outs.setdefault("services", {})
        outs.setdefault("health_urls", {})
        outs["compose_id"] = id_
        outs["app_name"] = live.get("appName")
        outs["environment_id"] = live.get("environmentId") or outs.get("environment_id")
        outs["project_id"] = project.get("projectId") or outs.get("project_id")
        drift: list[str] = []
        live_file = live.get("composeFile") if isinstance(live.get("composeFile"), str) else ""
        live_env = live.get("env") if isinstance(live.get("env"), str) else ""
        inputs_changed = False
        if outs.get("compose_sha256") != sha256_text(live_file) or "compose_file" not in outs:
            outs["compose_file"] = live_file
            outs["compose_sha256"] = sha256_text(live_file)
            inputs_changed = True
        if outs.get("env_sha256") != sha256_text(live_env) or "env" not in outs:
            outs["env"] = live_env
            outs["env_sha256"] = sha256_text(live_env)
            inputs_changed = True
        if live.get("sourceType") != "raw":
            drift.append(f"sourceType is {live.get('sourceType')!r} in Dokploy, not 'raw'")
        if outs.get("compose_type") and live.get("composeType") != outs.get("compose_type"):
            drift.append(f"composeType is {live.get('composeType')!r} in Dokploy")
        if live.get("createEnvFile") is False:
            drift.append("createEnvFile is off in Dokploy")
        deployments = [d for d in live.get("deployments") or [] if isinstance(d, dict)]
        if deployments:
            latest = max(deployments, key=lambda d: str(d.get("createdAt") or ""))
            if latest.get("status") in ("done", "error", "cancelled"):
                outs.update(self._deployment_outputs(latest))
            if latest.get("status") in ("error", "cancelled"):
                drift.append(f"the last deployment {latest.get('deploymentId')} ended {latest.get('status')!r}")
        if live.get("composeStatus") == "idle" and deployments:
            drift.append("the compose is idle in Dokploy (stopped, or a deploy was cancelled)")
        outs["drift"] = drift
        inputs = {k: outs[k] for k in COMPOSE_INPUTS if k in outs} if inputs_changed else None
        return ReadResult(id_, outs, inputs)

    # ---------------------------------------------------------------- delete

    @_guard(_compose_secrets)
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        p = _props(props)
        with self._client(p, "delete") as client:
            try:
                client.compose_delete(id_, delete_volumes=bool(p.get("delete_volumes")))
            except DokployNotFound:
                return


class ComposeProject(Resource, module="dokploy", name="ComposeProject"):
    """One Dokploy compose service, deployed from raw YAML + dotenv and verified by its health URLs."""

    project_id: Output[str]
    """Dokploy project id."""
    environment_id: Output[str]
    """Dokploy environment id."""
    compose_id: Output[str]
    """Dokploy compose id (also the resource id)."""
    app_name: Output[str]
    """Docker compose project name Dokploy chose (immutable)."""
    deployment_id: Output[str]
    """The deployment this resource last waited for."""
    deployment_status: Output[str]
    """Its status ("done" after a successful create/update)."""
    deployment_finished_at: Output[str]
    """Its finish time (ISO-8601)."""
    healthy: Output[bool]
    """True once every health URL answered 2xx after the deploy."""
    verified_at: Output[str]
    """When the deploy and health were verified (UTC, ISO-8601)."""
    compose_sha256: Output[str]
    """sha256 of the compose file."""
    env_sha256: Output[str]
    """sha256 of the env text (the env itself is only kept as a secret)."""
    drift: Output[list[str]]
    """What a refresh found changed in Dokploy's UI (empty after create/update)."""

    def __init__(self, name: str, args: ComposeProjectArgs, opts: ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "dokploy_url": args.dokploy_url,
            "api_key": Output.secret(args.api_key),
            "project_name": args.project_name,
            "environment_name": args.environment_name,
            "compose_name": args.compose_name,
            "compose_file": args.compose_file,
            "env": Output.secret(args.env),
            "services": args.services,
            "health_urls": args.health_urls,
            "compose_type": args.compose_type,
            "deploy_timeout": float(args.deploy_timeout),
            "poll_interval": float(args.poll_interval),
            "health_timeout": float(args.health_timeout),
            "rollback_on_failure": bool(args.rollback_on_failure),
            "allow_insecure_http": bool(args.allow_insecure_http),
            "delete_volumes": bool(args.delete_volumes),
        }
        props.update(dict.fromkeys(COMPOSE_COMPUTED))
        opts = ResourceOptions.merge(ResourceOptions(additional_secret_outputs=list(COMPOSE_SECRET_OUTPUTS)), opts)
        super().__init__(ComposeProjectProvider(), name, props, opts)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

REGISTRY_INPUTS = ("dokploy_url", "api_key", "registry_name", "registry_url", "username", "password", "allow_insecure_http")
REGISTRY_SECRET_OUTPUTS = ["password_sha256"]


@dataclass
class RegistryArgs:
    """Docker registry credentials Dokploy logs in with (registryType "cloud")."""

    dokploy_url: str
    api_key: Input[str]
    registry_name: Input[str]
    registry_url: Input[str]
    """host[:port] without scheme, e.g. "ghcr.io"."""
    username: Input[str]
    password: Input[str]
    """Secret; kept in state only as a secret hash."""
    allow_insecure_http: bool = False


@dataclass
class RegistryProvider(_KeySource, ResourceProvider):
    """Dynamic provider behind DokployRegistry: registry.create / update / remove."""

    def _redactions(self, props: Mapping[str, Any]) -> list[str]:
        return [v for v in (props.get("password"),) if isinstance(v, str)]

    @staticmethod
    def _outputs(p: Mapping[str, Any], registry_id: str) -> dict[str, Any]:
        return {
            "registry_id": registry_id,
            "dokploy_url": p.get("dokploy_url"),
            "registry_name": p.get("registry_name"),
            "registry_url": p.get("registry_url"),
            "username": p.get("username"),
            "allow_insecure_http": bool(p.get("allow_insecure_http")),
            "password_sha256": sha256_text(p.get("password")),
        }

    @staticmethod
    def _fields(p: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "registryName": p["registry_name"],
            "registryUrl": p["registry_url"],
            "username": p["username"],
            "password": p["password"],
            "registryType": "cloud",
            "imagePrefix": None,
        }

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        p = _props(news)
        failures: list[CheckFailure] = []
        for key in ("dokploy_url", "api_key", "registry_name", "registry_url", "username", "password"):
            if key not in p:
                failures.append(CheckFailure(key, f"{key}: is required"))
        if "dokploy_url" in p and not _is_unknown(p["dokploy_url"]):
            try:
                check_base_url(p["dokploy_url"], allow_insecure_http=bool(p.get("allow_insecure_http")))
            except DokployConfigError as exc:
                failures.append(CheckFailure("dokploy_url", str(exc)))
        for key in ("registry_name", "username", "password", "api_key"):
            v = p.get(key)
            if key in p and not _is_unknown(v) and (not isinstance(v, str) or not v.strip()):
                failures.append(CheckFailure(key, f"{key}: should be a non-empty string"))
        url = p.get("registry_url")
        if (
            "registry_url" in p
            and not _is_unknown(url)
            and (not isinstance(url, str) or (url and not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?", url)))
        ):
            failures.append(CheckFailure("registry_url", "registry_url: should be host[:port] without scheme, e.g. ghcr.io"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old, new = _props(olds), _props(news)
        replaces: list[str] = []
        url = new.get("dokploy_url")
        if url is not None and not _is_unknown(url) and "dokploy_url" in old and _norm_url(old["dokploy_url"]) != _norm_url(url):
            replaces.append("dokploy_url")
        changed = [
            k
            for k in ("registry_name", "registry_url", "username", "allow_insecure_http")
            if k in new and (_is_unknown(new[k]) or not _same(old.get(k), new[k]))
        ]
        if "password" in new and (_is_unknown(new["password"]) or old.get("password_sha256") != sha256_text(new["password"])):
            changed.append("password")
        if _is_unknown(new.get("dokploy_url")):
            changed.append("dokploy_url")
        return DiffResult(changes=bool(replaces or changed), replaces=replaces, stables=[], delete_before_replace=bool(replaces))

    @_guard(_registry_secrets)
    def create(self, props: dict[str, Any]) -> CreateResult:
        p = _props(props)
        with self._client(p, "create") as client:
            same = [r for r in client.registry_all() if isinstance(r, dict) and r.get("registryName") == p["registry_name"]]
            if len(same) > 1:
                raise DokployError(f"registry.all: {len(same)} registries are named {p['registry_name']!r}; remove all but one")
            if same:
                registry_id = same[0]["registryId"]
                client.registry_update(registry_id, **self._fields(p))
            else:
                registry_id = client.registry_create(
                    p["registry_name"], p["registry_url"], p["username"], p["password"], registry_type="cloud", image_prefix=None
                )["registryId"]
        return CreateResult(registry_id, self._outputs(p, registry_id))

    @_guard(_registry_secrets)
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = _props(olds), _props(news)
        outs = self._outputs(new, _id)
        if all(_same(old.get(k), outs[k]) for k in ("registry_name", "registry_url", "username", "password_sha256")):
            return UpdateResult(outs)
        with self._client(new, "update") as client:
            client.registry_update(_id, **self._fields(new))
        return UpdateResult(outs)

    @_guard(_registry_secrets)
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        p = _props(props)
        with self._client(p, "read") as client:
            try:
                live = client.registry_one(id_)
            except DokployNotFound:
                return ReadResult("", {})
        outs = {k: v for k, v in p.items() if k not in ("api_key", "password")}
        outs["registry_id"] = id_
        drifted = False
        for key, live_key in (("registry_name", "registryName"), ("registry_url", "registryUrl"), ("username", "username")):
            if live.get(live_key) is not None and outs.get(key) != live.get(live_key):
                outs[key] = live.get(live_key)
                drifted = True
        inputs = {k: outs[k] for k in REGISTRY_INPUTS if k in outs} if drifted else None
        return ReadResult(id_, outs, inputs)

    @_guard(_registry_secrets)
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        p = _props(props)
        with self._client(p, "delete") as client:
            try:
                client.registry_remove(id_)
            except (DokployNotFound, DokployValidationError):
                # Dokploy answers 400 "Error removing this registry" for an unknown id too.
                try:
                    client.registry_one(id_)
                except DokployNotFound:
                    return
                raise


class DokployRegistry(Resource, module="dokploy", name="Registry"):
    """Registry credentials in Dokploy (it runs `docker login` with them on its host)."""

    registry_id: Output[str]
    """Dokploy registry id (also the resource id)."""
    password_sha256: Output[str]
    """Secret hash of the password, to notice a rotation."""

    def __init__(self, name: str, args: RegistryArgs, opts: ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "dokploy_url": args.dokploy_url,
            "api_key": Output.secret(args.api_key),
            "registry_name": args.registry_name,
            "registry_url": args.registry_url,
            "username": args.username,
            "password": Output.secret(args.password),
            "allow_insecure_http": bool(args.allow_insecure_http),
            "registry_id": None,
            "password_sha256": None,
        }
        opts = ResourceOptions.merge(ResourceOptions(additional_secret_outputs=list(REGISTRY_SECRET_OUTPUTS)), opts)
        super().__init__(RegistryProvider(), name, props, opts)
