"""What every Dokploy dynamic provider shares: plain props, unknown/equal checks, secret-safe errors, the API key and the client.

The providers are pickled into the state (dill, by reference to their module); they hold only
plain, picklable fields: no client, session or secret is kept on them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pulumi
from pulumi.dynamic import ConfigureRequest, ReadResult

from components import host_errors
from core.redact import redact
from core.wire import UNKNOWN, unwrap_secrets
from dokploy_api import DokployClient, DokployConfigError, DokployError, DokployNotFound, DokployUnreachable
from probes.dokploy_runtime import VerificationFailed
from probes.health import HealthCheckFailed

PROVIDER_KEY = "__provider"
API_KEY_CONFIG = "dokployApiKey"
API_KEY_CONFIG_KEYS = (f"bizosaas-deploy:{API_KEY_CONFIG}", f"bizosaas:{API_KEY_CONFIG}")
"""The stack config keys refresh and destroy read the API key from: the project's namespace, then the one stacks written
before it used (full keys: the dynamic-provider host does not know the project, so a bare key would get another namespace)."""
API_KEY_ENV = "DOKPLOY_API_KEY"
UNREACHABLE_CONFIG = "bizosaas-deploy:dokployUnreachableTimeout"
"""The stack config key: seconds a provider waits for a Dokploy that does not answer (restarting, down, its database down)."""
DEFAULT_UNREACHABLE = 180.0
LOG_SILENCE_CONFIG = "bizosaas-deploy:deployLogSilence"
"""The stack config key: seconds a running deployment's log may stay unchanged where Dokploy's queue cannot be read."""
DEFAULT_LOG_SILENCE = 600.0
NEXT_UP = "run `pulumi up` again once Dokploy answers"
REPORTED = (DokployError, VerificationFailed, HealthCheckFailed)
"""Failures a provider explains in its message: the engine shows the message alone (components/host_errors.py)."""
host_errors.install()  # in the dynamic-provider host, which imports this module when it unpickles a provider


def props_of(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The resource's properties as plain values, without the pickled provider."""
    return {k: v for k, v in unwrap_secrets(dict(raw or {})).items() if k != PROVIDER_KEY}


def is_unknown(value: Any) -> bool:
    """Whether a preview value (or anything inside it) is not known yet."""
    if isinstance(value, type(pulumi.UNKNOWN)) or value == UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_unknown(v) for v in value)
    return False


def same(a: Any, b: Any) -> bool:
    """Equality as the state sees it: 1 == 1.0, tuples == lists, mapping keys as text."""
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a is b or a == b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return bool(_jsonish(a) == _jsonish(b))


def norm_url(url: Any) -> Any:
    return url.strip().rstrip("/") if isinstance(url, str) else url


def now() -> str:
    """UTC, ISO-8601, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def append_to_error(exc: BaseException, text: str) -> BaseException:
    """The same exception with ``text`` added to its message."""
    return _reworded(exc, f"{exc}{text}")


def prefix_error(exc: BaseException, text: str) -> BaseException:
    """The same exception with ``text`` before its message."""
    return _reworded(exc, f"{text}{exc}")


def _reworded(exc: BaseException, msg: str) -> BaseException:
    if isinstance(exc, DokployError):
        exc.message = msg
    exc.args = (msg,)
    return exc


def engine_warning(message: str) -> None:
    """Show ``message`` as a warning from inside a provider operation, through the SDK's public ``pulumi.log``.

    Checked against the pulumi SDK 3.272 and engine 3.274: the dynamic-provider host (``python -m pulumi.dynamic``)
    does not connect ``pulumi.log`` to the engine, so it writes ``warning: <message>`` to the host's stderr, and the
    engine shows every line a dynamic provider writes there in the update's output (a diagnostic of the run). The
    host is started with the engine's address as its argument, but the SDK has no public way to use it, and we do
    not use it privately (tests/engine/test_smoke.py shows the warning of a delete in `pulumi destroy`'s output).
    """
    if message:
        pulumi.log.warn(message)


def connection_props(dokploy_url: str, allow_insecure_http: bool) -> dict[str, Any]:
    """The inputs every Dokploy resource has: where Dokploy is. The key is not one of them: the provider
    reads it from the stack config (or DOKPLOY_API_KEY) when it calls Dokploy, so it is never in the state."""
    return {"dokploy_url": dokploy_url, "allow_insecure_http": bool(allow_insecure_http)}


def read_result(id_: str, outs: dict[str, Any], input_keys: tuple[str, ...], inputs_changed: bool) -> ReadResult:
    """The refreshed outputs, and the inputs too when Dokploy's copy differs (so the next diff repairs the drift)."""
    return ReadResult(id_, outs, {k: outs[k] for k in input_keys if k in outs} if inputs_changed else None)


def guard(secrets_of: Callable[[Mapping[str, Any]], Iterable[str]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a provider method: whatever escapes has the resource's secrets removed and no chained context."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any) -> Any:
            try:
                return fn(self, *args)
            except Exception as exc:
                if isinstance(exc, DokployUnreachable) and NEXT_UP not in str(exc):
                    append_to_error(exc, f"; {NEXT_UP}")
                secrets: list[str] = []
                for arg in args:
                    if isinstance(arg, Mapping):
                        secrets.extend(secrets_of(props_of(arg)))
                secrets += [v for v in (getattr(self, "_configured_key", None), os.environ.get(API_KEY_ENV)) if v]
                _scrub(exc, secrets)
                if isinstance(exc, REPORTED):  # the engine shows its message alone; a bug keeps its traceback
                    host_errors.report(exc)
                # only this frame and the host's own are left in the traceback of a bug
                raise exc.with_traceback(None) from None

        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        wrapper.__qualname__ = fn.__qualname__
        return wrapper

    return deco


@dataclass
class DokployProviderBase:
    """Resolves the API key (props on create/update, else stack config, else the environment) and builds the client."""

    api_key_config_keys: tuple[str, ...] = ("bizosaas:dokployApiKey", "dokployApiKey")
    """Kept for states written before the key was looked up in any namespace (unused)."""
    api_key_env: str = API_KEY_ENV
    client_options: dict[str, Any] = field(default_factory=dict)
    """Extra DokployClient keyword arguments (tests: timeout, backoff); plain, picklable values only."""
    _configured_key: str | None = field(default=None, repr=False)
    _unreachable: float | None = field(default=None, repr=False)
    """dokployUnreachableTimeout from the stack config (None: DEFAULT_UNREACHABLE)."""
    _log_silence: float | None = field(default=None, repr=False)
    """deployLogSilence from the stack config (None: DEFAULT_LOG_SILENCE)."""

    serialize_as_secret_always = True

    def _redactions(self, props: Mapping[str, Any]) -> list[str]:
        """Secret values that must never appear in an error message (besides the key)."""
        return []

    def _client(self, props: Mapping[str, Any], what: str) -> DokployClient:
        options = {
            "unreachable_timeout": DEFAULT_UNREACHABLE if self._unreachable is None else self._unreachable,
            "unreachable_setting": UNREACHABLE_CONFIG.partition(":")[2],
            **self.client_options,
        }
        return DokployClient(
            str(props.get("dokploy_url") or ""),
            self._api_key(props, what),
            allow_insecure_http=bool(props.get("allow_insecure_http")),
            redact=self._redactions(props),
            **options,
        )

    def log_silence(self) -> float:
        return DEFAULT_LOG_SILENCE if self._log_silence is None else self._log_silence

    def _live(self, props: Mapping[str, Any], fetch: Callable[[DokployClient], dict[str, Any]]) -> dict[str, Any] | None:
        """What Dokploy has for this resource (``fetch`` with a client), or None when Dokploy no longer has it."""
        with self._client(props_of(props), "read") as client:
            try:
                return fetch(client)
            except DokployNotFound:
                return None

    def _delete(self, props: Mapping[str, Any], remove: Callable[[DokployClient], object]) -> None:
        """Run ``remove`` with a client; what Dokploy no longer has is deleted already."""
        with self._client(props, "delete") as client, contextlib.suppress(DokployNotFound):
            remove(client)

    def configure(self, req: ConfigureRequest) -> None:
        """Remember the stack's ``dokployApiKey`` from its config (read and delete only get outputs), by its full key, and the
        outage settings (``dokployUnreachableTimeout``, ``deployLogSilence``)."""
        self._unreachable = _seconds(req.config.get(UNREACHABLE_CONFIG))
        self._log_silence = _seconds(req.config.get(LOG_SILENCE_CONFIG))
        for key in API_KEY_CONFIG_KEYS:
            value = unwrap_secrets(req.config.get(key))
            if isinstance(value, str) and value:
                self._configured_key = value
                return

    def _api_key(self, props: Mapping[str, Any], what: str) -> str:
        key = props.get("api_key")  # only in states written before the key was kept out of them
        if isinstance(key, str) and key:
            return key
        if self._configured_key:
            return self._configured_key
        env_key = os.environ.get(self.api_key_env)
        if env_key:
            return env_key
        raise DokployConfigError(
            f"{what}: the Dokploy API key is never kept in the state; provide it as stack config "
            f"(`pulumi config set --secret {API_KEY_CONFIG} ...`) or the {self.api_key_env} environment variable"
        )


def _seconds(raw: Any) -> float | None:
    """A number of seconds from the stack config (the program has checked it), None when unset or unreadable."""
    try:
        value = float(unwrap_secrets(raw)) if raw is not None else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and value >= 0 else None


def _jsonish(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonish(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonish(v) for v in value]
    return value


def _scrub(exc: BaseException, secrets: Iterable[str]) -> None:
    text = str(exc)
    clean = redact(text, secrets)
    if clean == text:
        return
    if isinstance(exc, DokployError):
        exc.message = clean
    exc.args = (clean,)
