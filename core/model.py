"""The catalog's data model, resolved for one stack: services, their env vars, the stack's settings (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SECRET_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


@dataclass(frozen=True)
class EnvVar:
    """One environment variable of a service, as the compose file will refer to it."""

    name: str
    kind: str
    """plain (catalog text: may refer to ${SECRET}) | literal (a stack's value: taken as is) | secret | service_url"""
    value: str = ""
    """The text (plain, literal) or the service name (service_url)."""


@dataclass(frozen=True)
class Service:
    """One deployable service, resolved for one stack."""

    name: str
    group: str
    local_image: str
    image_repository: str  # <registry>/<name>, no tag
    container_name: str
    port: int
    published: int
    health_path: str
    env: tuple[EnvVar, ...]
    test: tuple[str, ...] = ()
    """The service's own pre-push test argv, run inside its image after the health path answered (empty: none)."""
    test_env: tuple[tuple[str, str], ...] = ()
    """Non-secret placeholders the pre-push test container gets (catalog ``test_env``)."""

    @property
    def internal_url(self) -> str:
        """How other containers on dokploy-network reach this service."""
        return f"http://{self.container_name}:{self.port}"

    def test_environment(self) -> dict[str, str]:
        """The pre-push test container's whole environment: no secret, nothing from the stack.

        The catalog's plain values that refer to no secret, then the ``test_env`` placeholders (which
        also stand in for secrets, stack values and service URLs the service needs to start). A test
        is then a function of the image and the catalog: the same image is not tested again.
        """
        env = {v.name: v.value for v in self.env if v.kind == "plain" and not SECRET_REF.search(v.value)}
        env.update(self.test_env)
        return env

    def secret_names(self) -> set[str]:
        """Names of the secrets this service needs in its compose project's environment."""
        names = {v.name for v in self.env if v.kind == "secret"}
        for v in self.env:
            if v.kind == "plain":
                names.update(SECRET_REF.findall(v.value))
        return names


@dataclass(frozen=True)
class StackSettings:
    """The per-stack inputs that shape the catalog (read from Pulumi config by the program)."""

    stack: str
    registry: str
    tag: str
    container_suffix: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    services: Mapping[str, Any] = field(default_factory=dict)
    secret_names: frozenset[str] = frozenset()
    publish_address: str = "127.0.0.1"
    """Host address published ports bind to: loopback unless the stack says otherwise."""
    namespace: str = "bizosaas-deploy"
    """The stack config namespace (the Pulumi project name): messages name keys as ``<namespace>:key``."""


@dataclass(frozen=True)
class Catalog:
    """The enabled services of one stack, plus the catalog-wide defaults."""

    stack: str
    tag: str
    services: dict[str, Service]
    defaults: dict[str, Any]
    groups: dict[str, dict[str, Any]]
    publish_address: str = "127.0.0.1"
    """Host address the published ports bind to (0.0.0.0: every interface)."""

    @property
    def group_names(self) -> list[str]:
        """The compose projects, in catalog order (each has at least one enabled service)."""
        return list(self.groups)

    def group(self, name: str) -> list[Service]:
        """The enabled services of one compose project, in catalog order."""
        return [s for s in self.services.values() if s.group == name]

    def required_secrets(self) -> set[str]:
        """Every secret name some enabled service needs."""
        return set().union(*(s.secret_names() for s in self.services.values()))


def env_value(var: EnvVar, services: Mapping[str, Service]) -> str:
    """What the compose file says for one env var: a reference for secrets, text otherwise."""
    if var.kind == "secret":
        return "${" + var.name + "}"
    if var.kind == "service_url":
        return services[var.value].internal_url
    return var.value
