"""The Pulumi program: the only place where the catalog, images, compose rendering and Dokploy meet.

Flow: stack config -> catalog (validated) -> local image checks -> per service a ServiceTest (the pre-push
test gate) and a ServiceImage that waits for it (or the digests of a promoted/pinned release) -> one
DokployProject -> two rendered compose projects -> ComposeProject resources (deploy + verification through
Dokploy's API) -> exports (release manifest, compose text, release, verification records, verified).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pulumi
import pulumi_docker as docker

from components import stack_config
from components.compose_project import ComposeProject, ComposeProjectArgs
from components.dokploy_project import DokployProject, DokployProjectArgs
from components.registry_credentials import DokployRegistry, RegistryArgs
from components.service_image import ServiceImage, ServiceImageArgs
from components.stack_config import DeploySettings, read_deploy, read_gate, read_settings
from components.test_gate import ServiceTest, ServiceTestArgs
from core import release, verification
from core.catalog import Catalog, CatalogError, load_catalog_file, resolve
from core.compose import health_url, image_ref, render_compose, service_summary
from core.dotenv import render_env
from core.hosts import is_loopback
from probes.local_images import ImageReport, Inspector, check_local_images
from probes.registry import manifest_exists

PROJECT_DIR = Path(__file__).resolve().parent.parent
CATALOG_FILE = PROJECT_DIR / "catalog.yaml"


def build(stack: str, cfg: pulumi.Config, *, inspect: Inspector | None = None, config_problems: list[str] | None = None) -> dict[str, Any]:
    """Declare every resource of one stack and return what the stack exports.

    Every problem (config, catalog, local images) is collected first and raised together as one
    CatalogError, before any resource is declared.
    """
    problems = stack_config.check_running_stack(stack) if config_problems is None else list(config_problems)
    catalog = _catalog(stack, cfg, problems)
    promote_from = cfg.get("promoteFrom")
    pinned = stack_config.optional_object(cfg, "pinnedRelease")
    pushes = not (promote_from or pinned)
    report = check_local_images(stack, list(catalog.services.values()), inspect) if catalog and pushes else None
    problems += report.errors if report else []
    if problems or catalog is None:
        raise CatalogError(problems)
    for warning in report.warnings if report else []:
        pulumi.log.warn(warning)
    secrets = cfg.get_secret_object("secrets") or pulumi.Output.secret({})

    if report is None:
        released = _released_digests(stack, catalog, promote_from, pinned, cfg)
        digest_of = {n: released.apply(_item(n)) for n in catalog.services}
    else:
        images = _push_images(stack, catalog, cfg, report)
        digest_of = {n: img.sha256_digest for n, img in images.items()}
    digests = pulumi.Output.all(**digest_of)

    deploy = read_deploy(cfg, stack)
    project = DokployProject(
        "project",
        DokployProjectArgs(deploy.dokploy_url, deploy.project_name, deploy.environment_name, deploy.allow_insecure_http),
        opts=pulumi.ResourceOptions(protect=deploy.protect),
    )
    registry = _dokploy_registry(cfg, deploy, project)
    projects: dict[str, ComposeProject] = {}
    compose_text: dict[str, pulumi.Output[str]] = {}
    for group in catalog.group_names:
        if catalog.group(group):  # each project depends only on its own services' digests
            group_digests = {s.name: digest_of[s.name] for s in catalog.group(group)}
            compose_text[group] = pulumi.Output.all(**group_digests).apply(_renderer(catalog, group))
            projects[group] = _compose_project(catalog, group, group_digests, compose_text[group], secrets, deploy, project, registry)
    manifest = digests.apply(lambda d: {n: f"{catalog.services[n].image_repository}@{d[n]}" for n in catalog.services})
    # Verified: Dokploy's API showed every service running this release's digest, healthy, stable over the window.
    records = pulumi.Output.all(*[p.verification for p in projects.values()]).apply(_merged)
    verified = pulumi.Output.all(records, digests).apply(lambda rd: verification.is_verified(rd[0], rd[1]))
    return {
        "image_digests": digests,
        "release_manifest": manifest,
        "compose": compose_text,
        "compose_project_ids": {g: p.compose_id for g, p in projects.items()},
        "release_id": manifest.apply(release.release_id),
        "verified": verified,
        "verification": records,
        "promoted_from": promote_from or "",
    }


def _catalog(stack: str, cfg: pulumi.Config, problems: list[str]) -> Catalog | None:
    """The resolved catalog, or None with its problems added to ``problems``."""
    try:
        return resolve(load_catalog_file(CATALOG_FILE), read_settings(cfg, stack))
    except CatalogError as exc:
        problems += exc.problems
        return None


def _merged(records: list[Any]) -> dict[str, Any]:
    """service -> its verification record, over every compose project (service names are unique in the catalog)."""
    return {name: rec for project in records if isinstance(project, Mapping) for name, rec in project.items()}


def _item(name: str) -> Callable[[Mapping[str, str]], str]:
    return lambda digests: digests[name]


def _renderer(catalog: Catalog, group: str) -> Callable[[Mapping[str, str]], str]:
    return lambda digests: render_compose(catalog, group, digests)


def main() -> None:
    """The program entry point (__main__.py, and deployctl's inline program): declare and export."""
    try:
        outputs = build(pulumi.get_stack(), pulumi.Config(stack_config.PROJECT))
    except (CatalogError, release.ReleaseError) as exc:  # bad input: one clear message, no traceback
        raise pulumi.RunError(f"invalid configuration, nothing was pushed or deployed:\n{exc}") from None
    for key, value in outputs.items():
        pulumi.export(key, value)


def _push_images(stack: str, catalog: Catalog, cfg: pulumi.Config, report: ImageReport) -> dict[str, ServiceImage]:
    registry_host = next(iter(catalog.services.values())).image_repository.split("/", 1)[0]
    if is_loopback(registry_host):  # a plain-HTTP loopback registry (the local stack)
        registry_host = f"http://{registry_host}"
    if cfg.get("registryUser"):
        auth = docker.ProviderRegistryAuthArgs(
            address=registry_host, username=cfg.require("registryUser"), password=cfg.require_secret("registryToken")
        )
    else:  # a registry without authentication (the local one)
        auth = docker.ProviderRegistryAuthArgs(address=registry_host, auth_disabled=True)
    docker_host = cfg.get("dockerHost") or ""
    provider = docker.Provider("docker", host=docker_host or os.environ.get("DOCKER_HOST"), registry_auth=[auth])
    tests = _test_gate(stack, catalog, cfg, report, docker_host)
    return {
        name: ServiceImage(
            name,
            ServiceImageArgs(svc.local_image, svc.image_repository, catalog.tag, report.facts[name].image_id, tests.get(name)),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )
        for name, svc in catalog.services.items()
    }


def _test_gate(stack: str, catalog: Catalog, cfg: pulumi.Config, report: ImageReport, docker_host: str) -> dict[str, pulumi.Resource]:
    """One ServiceTest per pushed image (its Command is what the image's Tag and push wait for), unless testGate is false."""
    gate = read_gate(cfg)
    if not gate.enabled:
        pulumi.log.warn(
            f"stack {stack}: {stack_config.PROJECT}:testGate is false: the images are pushed WITHOUT their pre-push test "
            f"(`pulumi config rm testGate` turns it back on)"
        )
        return {}
    return {
        name: ServiceTest(
            name,
            ServiceTestArgs(
                service=name,
                local_image=svc.local_image,
                local_image_id=report.facts[name].image_id,
                port=svc.port,
                health_path=svc.health_path,
                environment=svc.test_environment(),
                test=svc.test,
                timeout=gate.timeout,
                docker_host=docker_host,
            ),
        ).command
        for name, svc in catalog.services.items()
    }


def _released_digests(
    stack: str, catalog: Catalog, promote_from: str | None, pinned: Mapping[str, str] | None, cfg: pulumi.Config
) -> pulumi.Output[dict[str, str]]:
    """Digests of an existing release: a pinned one (rollback) or the verified release of another stack."""
    if pinned:
        return pulumi.Output.from_input(release.digests_for(stack, catalog, dict(pinned), f"{stack_config.PROJECT}:pinnedRelease"))
    source = pulumi.StackReference(promote_from or "")
    check = cfg.get_bool("checkRegistry")
    user = cfg.get("registryPullUser")
    token = cfg.get_secret("registryPullToken") or ""  # to ask a private registry (GHCR) for the manifests

    def promotable(mvt: list[Any]) -> dict[str, str]:
        auth = (user, mvt[2]) if user and mvt[2] else None
        exists = (lambda repo, digest: manifest_exists(repo, digest, auth)) if check else None
        key = f"{stack_config.PROJECT}:promoteFrom ({promote_from})"
        return release.promotable_digests(stack, key, catalog, mvt[0], mvt[1], exists)

    digests = pulumi.Output.all(source.get_output("release_manifest"), source.get_output("verified"), token).apply(promotable)
    return pulumi.Output.unsecret(digests)  # digests are not secret; the token only authenticated the check


def _dokploy_registry(cfg: pulumi.Config, deploy: DeploySettings, project: DokployProject) -> DokployRegistry | None:
    """Pull credentials for Dokploy's Docker host (GHCR: a token with read:packages)."""
    if not cfg.get("registryPullUser"):
        return None
    return DokployRegistry(
        "registry",
        RegistryArgs(
            dokploy_url=deploy.dokploy_url,
            registry_name=cfg.get("registryName") or "ghcr",
            registry_url=cfg.get("registryPullHost") or "ghcr.io",
            username=cfg.require("registryPullUser"),
            password=cfg.require_secret("registryPullToken"),
            allow_insecure_http=deploy.allow_insecure_http,
        ),
        opts=pulumi.ResourceOptions(depends_on=[project]),
    )


def _compose_project(
    catalog: Catalog,
    group: str,
    digest_of: Mapping[str, pulumi.Output[str]],
    compose_text: pulumi.Output[str],
    secrets: pulumi.Output[Any],
    deploy: DeploySettings,
    project: DokployProject,
    registry: DokployRegistry | None,
) -> ComposeProject:
    services = catalog.group(group)
    template = deploy.health_url
    env_text = pulumi.Output.secret(secrets).apply(lambda s: render_env(catalog, group, dict(s or {})))
    # field by field, so a preview shows exactly which services get a new image (and nothing else unknown)
    summary = {
        s.name: service_summary(catalog, s, digest_of[s.name].apply(partial(image_ref, s)), health_url(template, s) if template else "")
        for s in services
    }
    return ComposeProject(
        group,
        ComposeProjectArgs(
            dokploy_url=deploy.dokploy_url,
            project_name=deploy.project_name,
            environment_name=deploy.environment_name,
            project_id=project.project_id,
            environment_id=project.environment_id,
            compose_name=group,
            compose_file=compose_text,
            env=env_text,
            services=summary,
            health_urls={s.name: health_url(template, s) for s in services} if template else {},
            deploy_timeout=deploy.deploy_timeout,
            poll_interval=deploy.poll_interval,
            health_timeout=deploy.health_timeout,
            stability_window=deploy.stability_window,
            rollback_on_failure=deploy.rollback_on_failure,
            allow_insecure_http=deploy.allow_insecure_http,
        ),
        opts=pulumi.ResourceOptions(depends_on=[registry] if registry else [], protect=deploy.protect),
    )
