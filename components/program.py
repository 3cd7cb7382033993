"""The Pulumi program: the only place where the catalog, images, compose rendering and Dokploy meet.

Flow: stack config -> catalog (validated) -> local image checks -> the Dokploy servers the compose projects are
placed on (resolved by name) -> per service a ServiceTest (the pre-push test gate) and a ServiceImage that waits
for it (or the digests of a promoted/pinned release) -> one DokployProject -> the catalog's rendered compose
projects (compose or stack mode) -> ReleaseRecord -> ComposeProject resources (deploy + verification through
Dokploy's API) -> exports (release manifest, compose text, release, verification records, verified).

Servers: a compose project's ``composeProjects.<group>.server`` is a Dokploy server's name. The program
resolves the names with one ``server.all`` before it declares anything, with the stack's API key: an unknown
or ambiguous name is reported with the other problems and nothing is pushed, created or deployed. A preview
without an API key (a pull request's) resolves nothing, says so, and shows the move by name (the server's name
is what decides a replacement); ``up`` always has the key.

Releases belong to `pulumi up` itself: the ``release`` output (id, digests, compose texts and hashes,
env keys, health URLs, who, commit, verified) lands in the checkpoint the backend keeps for every
update, and the ReleaseRecord resource, written before any deploy, says which release a failed update
attempted (``core.ledger`` reads them back). A pinned stack (``pinnedRelease: r-...``) reads that
release's record from the backend's history and deploys its compose texts verbatim, sha256-checked;
its images stay declared, unchanged (nothing is pushed). A promoting stack with ``expectRelease``
refuses any other release of its source before any resource changes.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pulumi

from components import clash_check, image_pushes, placement, releases, stack_config
from components.compose_project import ComposeProject, ComposeProjectArgs
from components.dokploy_project import DokployProject, DokployProjectArgs
from components.placement import ServerLister
from components.release_record import ReleaseRecord, ReleaseRecordArgs, deployer, source_commit
from components.stack_config import DeploySettings, read_deploy, read_settings
from core import dotenv, ledger, names, release, routes, verification
from core.catalog import Catalog, CatalogError, load_catalog_file, resolve
from core.compose import health_url, image_ref, render_compose, service_summary
from core.dotenv import render_env_names
from core.model import Service
from probes.local_images import Inspector, check_local_images

History = Callable[[str], list[ledger.Deployment]]
"""stack -> its deployments, oldest first (tests pass their own)."""

PROJECT_DIR = Path(__file__).resolve().parent.parent
CATALOG_FILE = PROJECT_DIR / "catalog.yaml"
CATALOG_ENV = "BIZOSAAS_CATALOG"
"""A benchmarking and testing hook: the path of another catalog file to read instead of catalog.yaml."""


def catalog_file() -> Path:
    """The catalog every stack reads: catalog.yaml, or the file ``BIZOSAAS_CATALOG`` names (relative to the project
    directory), e.g. the scale benchmark's generated 140-service catalog. Read here only (the program and deployctl)."""
    given = os.environ.get(CATALOG_ENV, "").strip()
    return PROJECT_DIR / given if given else CATALOG_FILE


def build(
    stack: str,
    cfg: pulumi.Config,
    *,
    inspect: Inspector | None = None,
    config_problems: list[str] | None = None,
    history: History | None = None,
    list_servers: ServerLister | None = None,
    list_others: clash_check.Lister | None = None,
) -> dict[str, Any]:
    """Declare every resource of one stack and return what the stack exports.

    Every problem (config, catalog, local images, a pinned release that cannot be deployed, the servers the
    compose projects are placed on) is
    collected first and raised together as one CatalogError, before any resource is declared.
    """
    deploy = read_deploy(cfg, stack)
    others = clash_check.start(deploy, list_others)  # what the other projects on Dokploy hold, read in the background
    problems = stack_config.check_running_stack(stack) if config_problems is None else list(config_problems)
    catalog = _catalog(stack, cfg, problems)
    promote_from = cfg.get("promoteFrom")
    digest_pin = stack_config.legacy_pin(cfg)  # a pin written before releases were recorded: digests only
    pin = None if digest_pin else cfg.get("pinnedRelease")
    find = (lambda s, r: ledger.find(s, history(s), r)) if history else releases.find_release
    pinned = releases.read_pinned(stack, pin, catalog, deploy, find, problems) if pin and catalog and not problems else None
    pushes = not (promote_from or digest_pin)
    report = check_local_images(stack, list(catalog.services.values()), inspect) if catalog and pushes else None
    problems += report.errors if report and not pinned else []
    server_ids = placement.server_ids(stack, catalog, deploy, problems, list_servers) if catalog else {}
    problems += env_problems(stack, catalog, stack_config.optional_object(cfg, "secrets") or {}) if catalog else []
    problems += names.problems(stack, catalog) if catalog else []
    if catalog and not problems:  # host ports and routes another project on the Dokploy already has
        problems += clash_check.problems(stack, catalog, server_ids, others, preview=pulumi.runtime.is_dry_run())
    if problems or catalog is None:  # the config check and the catalog both validate the catalog-shaping keys: once each
        raise CatalogError(list(dict.fromkeys(problems)))
    images_warnings = report.warnings if report and not pinned else []
    for warning in [*catalog.warnings, *images_warnings, *placement.stack_mode_warnings(stack, catalog, deploy)]:
        pulumi.log.warn(warning)
    secrets = cfg.get_secret_object("secrets") or pulumi.Output.secret({})

    if pinned is not None:
        digest_of = {n: pulumi.Output.from_input(pinned.digests[n]) for n in catalog.services}
        if report is not None:  # declared as they are, so that neither the pin nor unpinning replaces them
            image_pushes.push_images(stack, catalog, cfg, report, frozen=True)
    elif digest_pin is not None:
        key = f"{stack_config.PROJECT}:pinnedRelease"
        pulumi.log.warn(f"stack {stack}: {key} holds image digests (a pin written before releases were recorded): they are deployed "
                        "with today's compose rendering; pin a recorded release instead: `python -m deployctl rollback --release r-...`")
        digest_of = {n: pulumi.Output.from_input(d) for n, d in release.digests_for(stack, catalog, digest_pin, key).items()}
    elif report is None:
        released = releases.released_digests(stack, catalog, promote_from, cfg)
        digest_of = {n: released.apply(_item(n)) for n in catalog.services}
    else:
        images = image_pushes.push_images(stack, catalog, cfg, report)
        digest_of = {n: img.sha256_digest for n, img in images.items()}
    digests = pulumi.Output.all(**digest_of)
    # a promotion's checks (verified, expectRelease, in the registry) pass before anything is created or changed
    gate: pulumi.Output[list[pulumi.Resource]] | None = digests.apply(lambda _: []) if promote_from and pinned is None else None

    project = DokployProject(
        "project",
        DokployProjectArgs(deploy.dokploy_url, deploy.project_name, deploy.environment_name, deploy.allow_insecure_http),
        opts=pulumi.ResourceOptions(protect=deploy.protect, depends_on=gate),
    )
    registry = placement.dokploy_registry(cfg, deploy, project, catalog, server_ids)
    manifest = digests.apply(lambda d: {n: f"{catalog.services[n].image_repository}@{d[n]}" for n in catalog.services})
    compose_parts = _compose_parts(catalog, deploy, digest_of, pinned)
    content = pulumi.Output.all(pulumi.Output.from_input({g: dict(p) for g, p in compose_parts.items()}), manifest).apply(
        partial(releases.release_content, stack, promote_from or "", pinned)
    )
    record = ReleaseRecord(
        "release",
        ReleaseRecordArgs(
            stack=stack,
            release_id=content.apply(lambda c: str(c["id"])),
            manifest=content.apply(lambda c: dict(c["manifest"])),
            compose_sha256=content.apply(lambda c: {g: str(p["sha256"]) for g, p in c["compose"].items()}),
            promoted_from=(promote_from or "") if pinned is None else str(pinned.record.get("promoted_from") or ""),
            pinned=pinned.id if pinned else "",
            by=deployer(),
            commit=source_commit(PROJECT_DIR),
        ),
        opts=pulumi.ResourceOptions(depends_on=gate),
    )
    projects: dict[str, ComposeProject] = {}
    for group, parts in compose_parts.items():
        depends_on: list[pulumi.Resource] = [r for r in (registry, record) if r]
        projects[group] = _compose_project(catalog, group, parts, secrets, deploy, project, depends_on, server_ids)
    # Verified: Dokploy's API showed every service running this release's digest, healthy, stable over the window.
    records = pulumi.Output.all(*[p.verification for p in projects.values()]).apply(_merged)
    verified = pulumi.Output.all(records, digests).apply(lambda rd: verification.is_verified(rd[0], rd[1]))
    released = pulumi.Output.all(content, record.by, record.commit, record.recorded_at, verified, records).apply(releases.release_output)
    return {
        "image_digests": digests,
        "release_manifest": manifest,
        "compose": {g: p["text"] for g, p in compose_parts.items()},
        "compose_project_ids": {g: p.compose_id for g, p in projects.items()},
        "release_id": content.apply(lambda c: str(c["id"])),
        "verified": verified,
        "verification": records,
        "promoted_from": promote_from or "",
        "release": released,
    }


def _catalog(stack: str, cfg: pulumi.Config, problems: list[str]) -> Catalog | None:
    """The resolved catalog, or None with its problems added to ``problems``."""
    path = catalog_file()
    if path != CATALOG_FILE:
        pulumi.log.warn(f"stack {stack}: the catalog is {path} ({CATALOG_ENV}), not catalog.yaml")
    try:
        return resolve(load_catalog_file(path), read_settings(cfg, stack))
    except CatalogError as exc:
        problems += exc.problems
        return None


def env_problems(stack: str, catalog: Catalog, secrets: Mapping[str, Any]) -> list[str]:
    """Secret values that would not reach their containers exactly as set through Dokploy's env handling (core.dotenv:
    its dotenv parser, its ``${{...}}`` substitution, stack mode's shell quoting), one line each naming the stack, the
    key and the services; never the value."""
    out: list[str] = []
    for group in catalog.group_names:
        services = catalog.group(group)
        mode = "stack" if catalog.placement(group).stack else "compose"
        good: dict[str, str] = {}
        for name in sorted(set().union(*(s.secret_names() for s in services))):
            value = secrets.get(name)
            if not isinstance(value, str):
                continue  # missing or not text: the catalog's checks say so
            users = ", ".join(s.name for s in services if name in s.secret_names())
            why = dotenv.problem(value, stack_mode=mode == "stack")
            if why:
                key = f"{stack_config.PROJECT}:secrets/{name}"
                out.append(f"stack {stack}: {key}: {why} (services {users}; compose project {group}, {mode} mode)")
            else:
                good[name] = value
        try:
            dotenv.encode(good)
        except dotenv.DotenvError as exc:
            out.append(f"stack {stack}: {stack_config.PROJECT}:secrets: {exc} (compose project {group})")
    return out


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
    finished: Awaitable[bool] | None = None if pulumi.runtime.is_dry_run() else _finished(outputs["verified"])
    done: pulumi.Output[bool] | None = None if finished is None else pulumi.Output.from_input(finished)
    for key, value in outputs.items():
        pulumi.export(key, value if done is None else pulumi.Output.all(done, value).apply(lambda both: both[1]))


async def _finished(verified: pulumi.Output[Any]) -> bool:
    """True once every compose project finished; raises when one failed. `up --continue-on-error` leaves a failed
    project's outputs unknown and would export the new release's id and manifest next to an unknown ``verified``:
    raising instead keeps the stack's previous outputs, which describe the release that still runs (rolled back to)."""
    if not await verified.is_known():
        raise pulumi.RunError("the stack outputs keep the last release that finished: this one did not (see the errors above)")
    return True


def _compose_parts(
    catalog: Catalog, deploy: DeploySettings, digest_of: Mapping[str, pulumi.Output[str]], pinned: release.PinnedRelease | None
) -> dict[str, dict[str, Any]]:
    """Per compose project: its text, env keys, health URLs and per-service summary (the pinned release's, as recorded)."""
    if pinned is not None:  # a release's compose texts as recorded; its routes are the stack's today (a Dokploy setting)
        today = {g: {s.name: routes.inputs(s) for s in catalog.group(g) if s.route} for g in catalog.group_names}
        return {g: {**dict(pinned.compose[g]), "routes": today[g]} for g in catalog.group_names if g in pinned.compose}
    template = deploy.health_url
    parts: dict[str, dict[str, Any]] = {}
    for group in catalog.group_names:
        services = catalog.group(group)
        if not services:
            continue
        group_digests = {s.name: digest_of[s.name] for s in services}  # each project depends only on its own services' digests
        parts[group] = {
            "text": pulumi.Output.all(**group_digests).apply(_renderer(catalog, group)),
            "env_keys": sorted(set().union(*(s.secret_names() for s in services))),
            "health_urls": {s.name: url for s in services if (url := health_url(template, s))} if template else {},
            "compose_type": catalog.placement(group).compose_type,  # the mode its text was rendered for
            "routes": {s.name: routes.inputs(s) for s in services if s.route},  # Dokploy domains: from today's catalog, pinned or not
            # field by field, so a preview shows exactly which services get a new image (and nothing else unknown)
            "services": {s.name: _summary(catalog, s, digest_of[s.name], template) for s in services},
        }
    return parts


def _summary(catalog: Catalog, service: Service, digest: pulumi.Output[str], template: str) -> dict[str, Any]:
    return service_summary(catalog, service, digest.apply(partial(image_ref, service)), health_url(template, service) if template else "")


def _compose_project(
    catalog: Catalog,
    group: str,
    parts: Mapping[str, Any],
    secrets: pulumi.Output[Any],
    deploy: DeploySettings,
    project: DokployProject,
    depends_on: list[pulumi.Resource],
    server_ids: Mapping[str, str],
) -> ComposeProject:
    place = catalog.placement(group)
    env_keys = list(parts["env_keys"])
    stack_mode = str(parts.get("compose_type") or place.compose_type) == "stack"
    env_text = pulumi.Output.secret(secrets).apply(lambda s: render_env_names(group, env_keys, dict(s or {}), stack_mode))
    return ComposeProject(
        group,
        ComposeProjectArgs(
            dokploy_url=deploy.dokploy_url,
            project_name=deploy.project_name,
            environment_name=deploy.environment_name,
            project_id=project.project_id,
            environment_id=project.environment_id,
            compose_name=group,
            compose_file=parts["text"],
            env=env_text,
            services=parts["services"],
            health_urls=parts["health_urls"],
            compose_type=str(parts.get("compose_type") or place.compose_type),
            server_name=place.server,
            server_id=server_ids.get(place.server, "") if place.server else "",
            deploy_timeout=deploy.deploy_timeout,
            poll_interval=deploy.poll_interval,
            health_timeout=deploy.health_timeout,
            stability_window=deploy.stability_window,
            rollback_on_failure=deploy.rollback_on_failure,
            allow_insecure_http=deploy.allow_insecure_http,
            routes=dict(parts.get("routes") or {}),
            traefik=dict(deploy.traefik) if parts.get("routes") else {},
            app_name=names.app_name_base(catalog.stack, group),
        ),
        opts=pulumi.ResourceOptions(depends_on=depends_on, protect=deploy.protect),
    )
