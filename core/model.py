"""The catalog's data model, resolved for one stack: services, their env vars, the stack's settings (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SECRET_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
MODES = ("compose", "stack")
"""How Dokploy runs a compose project: ``docker compose`` (composeType docker-compose) or ``docker stack deploy`` (stack)."""
PORT_MODES = ("ingress", "host")
"""Stack mode: how Swarm publishes a port (ingress: the routing mesh, every node; host: on the node that runs the task)."""
ENDPOINT_MODES = ("vip", "dnsrr")
"""Stack mode: how a service's name resolves on the network (one virtual IP, or every task's IP)."""


@dataclass(frozen=True)
class Placement:
    """Where and how one compose project runs: the stack's ``composeProjects.<group>`` (default: compose mode on Dokploy's host)."""

    mode: str = "compose"
    server: str = ""
    """The Dokploy server (its name) the project runs on; "" = Dokploy's own host."""
    ports: str = "ingress"
    """Stack mode: the publish mode of every published port (a production Swarm uses ingress)."""
    endpoint_mode: str = "vip"
    """Stack mode: the endpoint mode of every service (a production Swarm uses a VIP)."""

    @property
    def stack(self) -> bool:
        return self.mode == "stack"

    @property
    def compose_type(self) -> str:
        """Dokploy's ``composeType`` for this mode."""
        return "stack" if self.stack else "docker-compose"


CERTIFICATES = ("letsencrypt", "none", "custom")
"""Dokploy's ``certificateType``: a Let's Encrypt certificate, Traefik's default one (or none on plain http), or a named
certificate resolver of Dokploy's Traefik."""


@dataclass(frozen=True)
class Route:
    """How the public reaches one service: a Dokploy domain of its compose project (Traefik routes the host, and the path
    under it, to the container's port over dokploy-network)."""

    host: str
    path: str = "/"
    """A path prefix under the host ("/": the whole host); a prefix is stripped before the request reaches the service."""
    https: bool = True
    """Served on Traefik's websecure entrypoint (web redirects to it), else on web only."""
    certificate: str = "letsencrypt"
    cert_resolver: str = ""
    """The Traefik certificate resolver of ``certificate: custom``."""

    @property
    def url(self) -> str:
        """What a browser opens: ``https://api.example.com`` (and the path, when it is not "/")."""
        return f"{'https' if self.https else 'http'}://{self.host}{'' if self.path == '/' else self.path}"


@dataclass(frozen=True)
class EnvVar:
    """One environment variable of a service, as the compose file will refer to it."""

    name: str
    kind: str
    """plain (catalog text: may refer to ${SECRET}) | literal (a stack's value: taken as is) | secret | service_url | public_url"""
    value: str = ""
    """The text (plain, literal) or the service name (service_url, public_url)."""


@dataclass(frozen=True)
class Service:
    """One deployable service, resolved for one stack."""

    name: str
    group: str
    local_image: str
    image_repository: str  # <registry>/<name>, no tag
    container_name: str
    """compose mode: the container's name; stack mode: the service's alias on the network (unique per stack)."""
    port: int
    published: int
    """The host port; 0 = not published (reached only over the network)."""
    health_path: str
    env: tuple[EnvVar, ...]
    test: tuple[str, ...] = ()
    """The service's own pre-push test argv, run inside its image after the health path answered (empty: none)."""
    test_env: tuple[tuple[str, str], ...] = ()
    """Non-secret placeholders the pre-push test container gets (catalog ``test_env``)."""
    deploy: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Stack mode: the Swarm ``deploy:`` settings (catalog defaults, the service's own, the stack's), validated."""
    route: Route | None = None
    """Its public route through Traefik (a Dokploy domain), None: reached only over dokploy-network (and a host port, if published)."""
    limits: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """The stack's ``resourceLimits`` (cpus, memory, pids): compose mode renders them as the service's
    ``deploy.resources.limits`` (docker compose applies them to the container); stack mode has them in ``deploy``."""

    @property
    def internal_url(self) -> str:
        """How other containers on dokploy-network reach this service, in either mode: its container name (compose
        mode) or the same name as its network alias (stack mode), so a compose-mode project can call a stack-mode one
        and two stacks on one network never answer for each other."""
        return f"http://{self.container_name}:{self.port}"

    @property
    def public_url(self) -> str:
        """How a browser reaches this service: its route's URL, or its internal URL when the stack gives it no route."""
        return self.route.url if self.route else self.internal_url

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
    publish_address_given: bool = False
    """Whether the stack sets publishAddress itself (compose mode only: Swarm cannot bind a port to one address)."""
    projects: Mapping[str, Any] = field(default_factory=dict)
    """``composeProjects``: per compose project, mode (compose | stack), server, ports and endpointMode (stack mode)."""
    namespace: str = "bizosaas-deploy"
    """The stack config namespace (the Pulumi project name): messages name keys as ``<namespace>:key``."""
    domain: str = ""
    """The stack's base domain: fills ``{domain}`` in the catalog's route host templates ("" = routes that need it are off)."""
    routes: Mapping[str, Any] = field(default_factory=dict)
    """``routes``: the stack's route settings over the catalog's (enabled, https, certificate, cert_resolver, verify)."""
    limits: Mapping[str, Any] = field(default_factory=dict)
    """``resourceLimits``: every service's resource limits (cpus, memory, pids), in either mode ({}: none)."""


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
    placements: dict[str, Placement] = field(default_factory=dict)
    """group -> where and how its compose project runs (missing: compose mode on Dokploy's host)."""
    warnings: tuple[str, ...] = ()
    """What a reviewer should know that is not an error (e.g. routes left off because the stack sets no domain)."""

    def placement(self, group: str) -> Placement:
        return self.placements.get(group) or Placement()

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
    if var.kind == "public_url":
        return services[var.value].public_url
    return var.value
