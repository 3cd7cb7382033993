"""ComposeProject: one Dokploy compose service, written as raw YAML + dotenv, deployed once, awaited and verified.

The resource and its inputs; what each operation does is ``ComposeProjectProvider``'s
(components/compose_project_provider.py, imported here too: states pickled the provider as
``components.compose_project.ComposeProjectProvider``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from components.compose_project_inputs import COMPOSE_COMPUTED, SECRET_OUTPUTS
from components.compose_project_provider import ComposeProjectProvider
from components.provider_support import connection_props

__all__ = ["ComposeProject", "ComposeProjectArgs", "ComposeProjectProvider"]


@dataclass
class ComposeProjectArgs:
    """Inputs of one Dokploy compose project."""

    dokploy_url: str
    """Dokploy base URL (https://...; plain http only to loopback unless allow_insecure_http). The API key
    is not an input: the provider reads the stack's dokployApiKey (or DOKPLOY_API_KEY) when it calls Dokploy."""
    project_name: str
    """The Dokploy project's name (shown in Dokploy's deployment descriptions)."""
    environment_name: str
    """The environment's name inside the project."""
    project_id: Input[str]
    """DokployProject.project_id."""
    environment_id: Input[str]
    """DokployProject.environment_id: where the compose lives."""
    compose_name: str
    """Compose service name inside the environment (its identity, with the project and environment)."""
    compose_file: Input[str]
    """Rendered compose YAML; holds no secret values (it refers to ${NAME} from the env)."""
    env: Input[str]
    """Dotenv text (KEY=value lines) written beside the compose file; secret."""
    services: Input[Mapping[str, Mapping[str, Any]]]
    """Per-service summary shown in `pulumi preview --diff` (image digest, ports, env keys, health)."""
    health_urls: Input[Mapping[str, str]]
    """service -> URL that must also answer 2xx from where `pulumi up` runs ({} = no reachability check)."""
    compose_type: str = "docker-compose"
    """docker-compose (compose mode: ``docker compose``) or stack (stack mode: ``docker stack deploy`` on Dokploy's Swarm)."""
    server_name: str = ""
    """The Dokploy server the project runs on (its name, as the stack config says it); "" = Dokploy's own host."""
    server_id: Input[str] = ""
    """That server's id, resolved from its name by the program before anything changes ("" = Dokploy's host, or a
    preview without an API key, which resolves nothing)."""
    deploy_timeout: float = 600.0
    poll_interval: float = 2.0
    health_timeout: float = 120.0
    """Seconds the new containers have to run healthy after the deploy (and the health URLs to answer)."""
    stability_window: float = 10.0
    """Seconds every container must then stay up, healthy and unrestarted."""
    rollback_on_failure: bool = False
    allow_insecure_http: bool = False
    delete_volumes: bool = False
    routes: Input[Mapping[str, Mapping[str, Any]]] | None = None
    """service -> its public route (``core.routes.inputs``: host, path, port, https, certificate, cert_resolver, health): the
    compose's Dokploy domains, made exactly these before each deploy ({} or None: Dokploy's domains are left as they are)."""
    traefik: Mapping[str, str] | None = None
    """Where every route is checked after a deploy: the Dokploy host's Traefik entrypoints {web, websecure}; {} = not checked."""
    app_name: str = ""
    """The appName asked for when the compose is created (Dokploy appends ``-`` and 6 random characters; core.names);
    "" lets Dokploy generate one. Never compared: a compose keeps the appName it was created with."""


class ComposeProject(Resource, module="dokploy", name="ComposeProject"):
    """One Dokploy compose service, deployed from raw YAML + dotenv and verified through Dokploy's API."""

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
    """True once the deploy was verified (what runs, healthy, stable; and the health URLs, if any)."""
    verification: Output[dict[str, Any]]
    """service -> what verification saw: digest, image, health, restarts, replicas, window_s, containers."""
    verified_at: Output[str]
    """When the deploy and health were verified (UTC, ISO-8601)."""
    timings: Output[dict[str, float]]
    """Seconds the last deploy spent per step: write, deploy (Dokploy's job), healthy (until Docker reports every
    service healthy), stable (the stability window), health_urls, total."""
    compose_sha256: Output[str]
    """sha256 of the compose file."""
    env_sha256: Output[str]
    """sha256 of the env text (the env itself is only kept as a secret)."""
    drift: Output[list[str]]
    """What a refresh found changed in Dokploy's UI (empty after create/update)."""

    def __init__(self, name: str, args: ComposeProjectArgs, opts: ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            **connection_props(args.dokploy_url, args.allow_insecure_http),
            "project_name": args.project_name,
            "environment_name": args.environment_name,
            "project_id": args.project_id,
            "environment_id": args.environment_id,
            "compose_name": args.compose_name,
            "compose_file": args.compose_file,
            "env": Output.secret(args.env),
            "services": args.services,
            "health_urls": args.health_urls,
            "compose_type": args.compose_type,
            "server_name": args.server_name,
            "server_id": args.server_id,
            "deploy_timeout": float(args.deploy_timeout),
            "poll_interval": float(args.poll_interval),
            "health_timeout": float(args.health_timeout),
            "stability_window": float(args.stability_window),
            "rollback_on_failure": bool(args.rollback_on_failure),
            "delete_volumes": bool(args.delete_volumes),
            "routes": args.routes if args.routes is not None else {},
            "traefik": dict(args.traefik or {}),
        }
        if args.app_name:
            props["app_name_base"] = args.app_name
        props.update(dict.fromkeys(COMPOSE_COMPUTED))
        opts = ResourceOptions.merge(ResourceOptions(additional_secret_outputs=list(SECRET_OUTPUTS)), opts)
        super().__init__(ComposeProjectProvider(stack=pulumi.get_stack()), name, props, opts)
