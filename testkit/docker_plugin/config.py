"""STAND-IN provider configuration: ``host``, ``registryAuth``, ``disableDockerDaemonCheck``.

The Python SDK sends ``registryAuth`` (and other non-string config) JSON-encoded as a string;
stack config may send real lists. Keys may be camelCase (input types) or snake_case (plain
dicts). Credentials resolve like the real provider's ``providerSetToRegistryAuth``:
``username``/``password`` (``authDisabled`` means dummy credentials), else ``configFileContent``,
else ``configFile`` (default ``$DOCKER_CONFIG`` or ``~/.docker/config.json``); the registry key is
the address's host[:port].
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .engine import DEFAULT_HOST
from .props import as_bool, plain
from .registry import hostname, server_url

UNSUPPORTED_KEYS = ("caMaterial", "certMaterial", "keyMaterial", "certPath", "context", "sshOpts")


class ConfigError(Exception):
    """Invalid or unsupported provider configuration."""


@dataclass(frozen=True)
class Credentials:
    """Resolved credentials for one registry (``auth_disabled`` means: do not log in)."""

    server: str
    username: str = ""
    password: str = ""
    auth_disabled: bool = False

    @property
    def host(self) -> str:
        """host[:port] of the registry."""
        return hostname(self.server)


@dataclass
class ProviderConfig:
    """STAND-IN provider settings after Configure."""

    host: str = DEFAULT_HOST
    disable_daemon_check: bool = False
    auths: dict[str, Credentials] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, args: Mapping[str, Any], variables: Mapping[str, str]) -> ProviderConfig:
        """Build from ConfigureRequest ``args`` (preferred) or the legacy ``variables`` map."""
        values = {k: plain(v) for k, v in args.items()} if args else _from_variables(variables)
        present = [k for k in UNSUPPORTED_KEYS if values.get(k) not in (None, "", [], "[]")]
        if present:
            raise ConfigError(f"provider config {', '.join(present)} is not implemented by this stand-in")
        host = values.get("host") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        auths = [parse_auth_entry(e) for e in decode_list(values.get("registryAuth"))]
        return cls(
            host=str(host),
            disable_daemon_check=as_bool(values.get("disableDockerDaemonCheck")),
            auths={c.host: c for c in auths},
        )

    def credentials_for(self, registry_host: str) -> Credentials | None:
        """The registryAuth entry whose address host matches ``registry_host``."""
        return self.auths.get(registry_host)


def _from_variables(variables: Mapping[str, str]) -> dict[str, Any]:
    return {k.rsplit(":", 1)[-1]: v for k, v in variables.items()}


def decode_list(value: Any) -> list[dict[str, Any]]:
    """``registryAuth`` as a list of dicts, whether sent as a JSON string or a list."""
    value = plain(value)
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"registryAuth is not valid JSON: {exc.msg}") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError("registryAuth must be a list of objects with an address")
    return value


def _get(entry: Mapping[str, Any], camel: str, snake: str) -> Any:
    return entry.get(camel, entry.get(snake))


def parse_auth_entry(entry: Mapping[str, Any]) -> Credentials:
    """One registryAuth entry -> Credentials (raises ConfigError like the real Configure)."""
    address = entry.get("address")
    if not address:
        raise ConfigError("registryAuth entry without an address")
    server = server_url(str(address))
    username = entry.get("username") or os.environ.get("DOCKER_REGISTRY_USER", "")
    password = entry.get("password") or os.environ.get("DOCKER_REGISTRY_PASS", "")
    if as_bool(_get(entry, "authDisabled", "auth_disabled")):
        return Credentials(server=server, auth_disabled=True)
    if username:
        return Credentials(server=server, username=str(username), password=str(password or ""))
    content = _get(entry, "configFileContent", "config_file_content")
    if content:
        user, pw = _from_docker_config(str(content), hostname(server), "configFileContent")
        return Credentials(server=server, username=user, password=pw)
    path = _get(entry, "configFile", "config_file") or _default_config_file()
    return Credentials(server=server, **_read_config_file(str(path), hostname(server)))


def _default_config_file() -> str:
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        return env if env.endswith(".json") else os.path.join(env, "config.json")
    return "~/.docker/config.json"


def _read_config_file(path: str, host: str) -> dict[str, str]:
    full = os.path.expanduser(path)
    try:
        with open(full, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"could not open config file from filePath: {path} ({exc.strerror})") from None
    user, pw = _from_docker_config(text, host, path)
    return {"username": user, "password": pw}


def _from_docker_config(text: str, host: str, source: str) -> tuple[str, str]:
    try:
        auths = json.loads(text).get("auths", {})
    except (json.JSONDecodeError, AttributeError):
        raise ConfigError(f"error parsing docker registry config json from {source}") from None
    for key, value in auths.items():
        if hostname(key) == host and isinstance(value, dict):
            if value.get("auth"):
                user, _, pw = base64.b64decode(value["auth"]).decode().partition(":")
                return user, pw
            return str(value.get("username", "")), str(value.get("password", ""))
    raise ConfigError(f"couldn't find registry config for '{host}' in {source}")
