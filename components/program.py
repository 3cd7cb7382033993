"""The Pulumi program: the only place where the catalog, images, compose and Dokploy meet.

Flow: stack config -> catalog (validated) -> local image checks -> ServiceImage per service (or the
digests of a promoted/pinned release) -> two rendered compose projects -> Dokploy ComposeProject
resources (deploy + health verification) -> exports (release manifest, compose text, release).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi_docker as docker
from pulumi.runtime.config import is_config_secret

from core import release
from core.catalog import GROUPS, Catalog, CatalogError, StackSettings, load_catalog_file, resolve
from core.compose import image_ref, render_compose, render_env, service_summary
from components.dokploy_provider import ComposeProject, ComposeProjectArgs, DokployRegistry, RegistryArgs
from components.service_image import ServiceImage
from probes.local_images import Inspector, check_local_images

PROJECT_DIR = Path(__file__).resolve().parent.parent
CATALOG_FILE = PROJECT_DIR / "catalog.yaml"


def read_settings(cfg: pulumi.Config, stack: str) -> StackSettings:
    """The catalog-shaping part of the stack config."""
    secrets = cfg.get_object("secrets") or {}
    return StackSettings(
        stack=stack,
        registry=cfg.get("registry") or "",
        tag=cfg.get("tag") or stack,
        container_suffix=cfg.get("containerSuffix") or "",
        env={k: str(v) for k, v in (cfg.get_object("env") or {}).items()},
        services=cfg.get_object("services") or {},
        secret_names=frozenset(k for k, v in secrets.items() if v not in (None, "")),
        secrets_are_secret=not secrets or is_config_secret("bizosaas:secrets"),
    )


def health_url(template: str, catalog: Catalog, service_name: str) -> str:
    """The URL verification GETs for one service (template keys: published, port, path, container, service)."""
    s = catalog.services[service_name]
    return template.format(published=s.published, port=s.port, path=s.health_path, container=s.container_name, service=s.name)


def build(stack: str, cfg: pulumi.Config, *, inspect: Inspector | None = None) -> dict[str, Any]:
    """Declare every resource of one stack and return what the stack exports."""
    settings = read_settings(cfg, stack)
    catalog = resolve(load_catalog_file(CATALOG_FILE), settings)
    promote_from = cfg.get("promoteFrom")
    pinned = cfg.get_object("pinnedRelease")
    secrets = cfg.get_secret_object("secrets") or pulumi.Output.secret({})

    if promote_from or pinned:
        released = _released_digests(stack, catalog, promote_from, pinned, cfg)
        digest_of = {n: released.apply(lambda d, n=n: d[n]) for n in catalog.services}
    else:
        images = _push_images(stack, catalog, cfg, inspect)
        digest_of = {n: img.sha256_digest for n, img in images.items()}
    digests = pulumi.Output.all(**digest_of)

    registry = _dokploy_registry(cfg)
    projects = {}
    for group in GROUPS:
        if catalog.group(group):  # each project depends only on its own services' digests
            group_digests = {s.name: digest_of[s.name] for s in catalog.group(group)}
            projects[group] = _compose_project(stack, cfg, catalog, group, group_digests, secrets, registry)
    manifest = pulumi.Output.from_input(digests).apply(
        lambda d: {n: f"{catalog.services[n].image_repository}@{d[n]}" for n in catalog.services}
    )
    # Verified means every compose project's services answered their health URL after the deploy.
    checked = bool(cfg.get("healthUrl"))
    verified = pulumi.Output.all(*[p.healthy for p in projects.values()]).apply(lambda hs: checked and all(h is True for h in hs))
    return {
        "image_digests": digests,
        "release_manifest": manifest,
        "compose": {g: p.compose_text for g, p in projects.items()},
        "compose_project_ids": {g: p.resource.compose_id for g, p in projects.items()},
        "release_id": manifest.apply(release.release_id),
        "verified": verified,
        "promoted_from": promote_from or "",
    }


def main() -> None:
    """The program entry point (__main__.py, and deployctl's inline program): declare and export."""
    try:
        outputs = build(pulumi.get_stack(), pulumi.Config("bizosaas"))
    except (CatalogError, release.ReleaseError) as exc:  # bad input: one clear message, no traceback
        raise pulumi.RunError(f"invalid configuration, nothing was pushed or deployed:\n{exc}") from None
    for key, value in outputs.items():
        pulumi.export(key, value)


def _push_images(stack: str, catalog: Catalog, cfg: pulumi.Config, inspect: Inspector | None) -> dict[str, ServiceImage]:
    report = check_local_images(stack, list(catalog.services.values()), inspect)
    for warning in report.warnings:
        pulumi.log.warn(warning)
    if report.errors:
        raise CatalogError(report.errors)
    registry_host = catalog.services[next(iter(catalog.services))].image_repository.split("/", 1)[0]
    if registry_host.startswith(("127.", "localhost")):  # a plain-HTTP loopback registry (the local stack)
        registry_host = f"http://{registry_host}"
    if cfg.get("registryUser"):
        auth = docker.ProviderRegistryAuthArgs(
            address=registry_host, username=cfg.require("registryUser"), password=cfg.require_secret("registryToken")
        )
    else:  # a registry without authentication (the local one)
        auth = docker.ProviderRegistryAuthArgs(address=registry_host, auth_disabled=True)
    provider = docker.Provider("docker", host=cfg.get("dockerHost") or os.environ.get("DOCKER_HOST"), registry_auth=[auth])
    return {
        name: ServiceImage(svc, catalog.tag, report.facts[name].image_id, provider)
        for name, svc in catalog.services.items()
    }


def _released_digests(
    stack: str, catalog: Catalog, promote_from: str | None, pinned: Mapping[str, str] | None, cfg: pulumi.Config
) -> pulumi.Output[dict[str, str]]:
    """Digests of an existing release: a pinned one (rollback) or the verified release of another stack."""
    if pinned:
        return pulumi.Output.from_input(release.digests_for(stack, catalog, dict(pinned), "bizosaas:pinnedRelease"))
    source = pulumi.StackReference(promote_from)
    check = cfg.get_bool("checkRegistry")
    user = cfg.get("registryPullUser")
    token = cfg.get_secret("registryPullToken") or ""  # to ask a private registry (GHCR) for the manifests
    outputs = pulumi.Output.all(source.get_output("release_manifest"), source.get_output("verified"), token)
    digests = outputs.apply(
        lambda mvt: release.promotable_digests(
            stack, promote_from or "", catalog, mvt[0], mvt[1], check, (user, mvt[2]) if user and mvt[2] else None
        )
    )
    return pulumi.Output.unsecret(digests)  # digests are not secret; the token only authenticated the check


def _dokploy_registry(cfg: pulumi.Config) -> DokployRegistry | None:
    """Pull credentials for Dokploy's Docker host (GHCR: a token with read:packages)."""
    if not cfg.get("registryPullUser"):
        return None
    return DokployRegistry(
        "registry",
        RegistryArgs(
            dokploy_url=cfg.require("dokployUrl"),
            api_key=_dokploy_api_key(cfg),
            registry_name=cfg.get("registryName") or "ghcr",
            registry_url=cfg.get("registryPullHost") or "ghcr.io",
            username=cfg.require("registryPullUser"),
            password=cfg.require_secret("registryPullToken"),
            allow_insecure_http=cfg.get_bool("dokployAllowHttp") or False,
        ),
    )


def _dokploy_api_key(cfg: pulumi.Config) -> pulumi.Output[str]:
    key = cfg.get_secret("dokployApiKey")
    if key is not None:
        return key
    if os.environ.get("DOKPLOY_API_KEY"):
        return pulumi.Output.secret(os.environ["DOKPLOY_API_KEY"])
    hint = "pulumi config set --secret dokployApiKey ..., or DOKPLOY_API_KEY"
    raise CatalogError([f"stack {pulumi.get_stack()}: bizosaas:dokployApiKey: is required ({hint})"])


class _Project:
    def __init__(self, resource: ComposeProject, compose_text: pulumi.Output[str]) -> None:
        self.resource = resource
        self.compose_text = compose_text
        self.healthy = resource.healthy


def _compose_project(
    stack: str,
    cfg: pulumi.Config,
    catalog: Catalog,
    group: str,
    digest_of: Mapping[str, pulumi.Output[str]],
    secrets: pulumi.Output[Any],
    registry: DokployRegistry | None,
) -> _Project:
    template = cfg.get("healthUrl") or ""
    services = catalog.group(group)
    compose_text = pulumi.Output.all(**digest_of).apply(lambda d: render_compose(catalog, group, d))
    env_text = pulumi.Output.secret(secrets).apply(lambda s: render_env(catalog, group, s or {}))
    # field by field, so a preview shows exactly which services get a new image (and nothing else unknown)
    summary = {
        s.name: service_summary(
            catalog, s, digest_of[s.name].apply(lambda d, s=s: image_ref(s, d)), health_url(template, catalog, s.name) if template else ""
        )
        for s in services
    }
    resource = ComposeProject(
        group,
        ComposeProjectArgs(
            dokploy_url=cfg.require("dokployUrl"),
            api_key=_dokploy_api_key(cfg),
            project_name=cfg.get("dokployProject") or f"bizosaas-{stack}",
            environment_name=cfg.get("dokployEnvironment") or "production",
            compose_name=group,
            compose_file=compose_text,
            env=env_text,
            services=summary,
            health_urls={s.name: health_url(template, catalog, s.name) for s in services} if template else {},
            deploy_timeout=float(cfg.get_float("deployTimeout") or 600),
            poll_interval=float(cfg.get_float("pollInterval") or 2),
            health_timeout=float(cfg.get_float("healthTimeout") or 120),
            rollback_on_failure=bool(cfg.get_bool("rollbackOnFailure")),
            allow_insecure_http=bool(cfg.get_bool("dokployAllowHttp")),
        ),
        opts=pulumi.ResourceOptions(depends_on=[registry] if registry else []),
    )
    return _Project(resource, compose_text)
