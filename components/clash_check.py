"""Before anything is pushed or deployed: the host ports and routes a stack asks for, checked against every other
project on its Dokploy (``core.clashes``), read through Dokploy's API.

One ``project.all`` (every compose, with its project and environment) and one ``overview.domains`` (every domain of every
application and compose, with its owner), at once; then one ``compose.one`` per compose of another project or
environment (its compose file and server: what it publishes), a few at once. The stack's own project and
environment are its own, whatever they hold. The reading starts in the background as soon as the stack's config is
readable: ``__main__.py`` calls ``begin`` before the program's modules load (~0.5 s of imports that the ~0.8 s of
reading at Dokploy's latency overlaps), else ``start`` when the program begins; it is judged once the catalog is known
and the servers are resolved (``problems``). A preview without an API key (a pull request's) cannot read: it says so;
``up`` always has the key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import stack_config
from components.stack_config import DeploySettings
from core import clashes
from core.catalog import Catalog
from dokploy_api import DokployClient, DokployError, DokployNotFound

READERS = 4
"""compose.one calls in flight at once (Dokploy answers each in ~0.3 s)."""


@dataclass
class Listing:
    """What the other projects on the Dokploy publish and route."""

    composes: list[clashes.Other] = field(default_factory=list)
    domains: list[dict[str, Any]] = field(default_factory=list)
    """``overview.domains`` rows of the other projects."""


Lister = Callable[[], Listing]
"""Reads the listing (tests pass their own)."""


def wanted(catalog: Catalog) -> bool:
    """Whether the stack asks for anything another project could hold: a host port or a route."""
    return any(s.published or s.route for s in catalog.services.values())


_begun: dict[tuple[str, str, str, bool], Future[Listing]] = {}
"""What ``begin`` started, by the Dokploy, project and environment it reads for (taken once by ``start``)."""


def _where(deploy: DeploySettings) -> tuple[str, str, str, bool]:
    return deploy.dokploy_url, deploy.project_name, deploy.environment_name, deploy.allow_insecure_http


def begin() -> None:
    """Start reading for the running stack before the rest of the program loads (``__main__.py``); ``start`` takes it.
    Silent: a config it cannot read is reported by the program's checks, and then nothing is judged."""
    try:
        deploy = stack_config.read_deploy(pulumi.Config(stack_config.PROJECT), pulumi.get_stack())
        key = stack_config.api_key()
    except Exception:  # the program's own checks say what is wrong with the config
        return
    if key and deploy.dokploy_url:
        _begun[_where(deploy)] = _submit(_reader(deploy, key))


def start(deploy: DeploySettings, lister: Lister | None = None) -> Future[Listing] | None:
    """Read what the others publish and route, in the background (what ``begin`` started, when it did); None without a
    key. Read whatever the stack asks for: ``problems`` judges it once the catalog is known."""
    if lister is None:
        begun = _begun.pop(_where(deploy), None)
        if begun is not None:
            return begun
        key = stack_config.api_key()
        if not key:
            return None
        lister = _reader(deploy, key)
    return _submit(lister)


def _submit(lister: Lister) -> Future[Listing]:
    """``lister`` in a daemon thread: a program that stopped on a config error does not wait for Dokploy to exit."""
    future: Future[Listing] = Future()

    def run() -> None:
        try:
            future.set_result(lister())
        except BaseException as exc:  # handed to problems(), which says what it means
            future.set_exception(exc)

    threading.Thread(target=run, name="clash-check", daemon=True).start()
    return future


def problems(
    stack: str, catalog: Catalog, server_ids: Mapping[str, str], pending: Future[Listing] | None, *, preview: bool = False
) -> list[str]:
    """One line per port or route the stack asks for that another project on the Dokploy already has.

    Dokploy not answering is a problem at ``up`` (nothing may change unchecked) and a warning in a preview (which
    changes nothing: it shows the plan, and the ``up`` checks)."""
    if not wanted(catalog):
        return []
    if pending is None:
        pulumi.log.warn(
            f"stack {stack}: this preview has no Dokploy API key, so the host ports and routes it asks for were not checked "
            "against the other projects on Dokploy; `pulumi up` checks them before anything changes"
        )
        return []
    ns = stack_config.PROJECT
    try:
        listing = pending.result()
    except DokployError as exc:
        said = f"stack {stack}: {ns}:dokployUrl: could not read what the other projects on Dokploy publish and route: {exc}"
        if preview:
            pulumi.log.warn(f"{said}; this preview did not check the host ports and routes, `pulumi up` does before anything changes")
            return []
        return [said]
    want: list[clashes.Wanted] = []
    claims: list[clashes.Claim] = []
    for name, svc in catalog.services.items():
        place = catalog.placement(svc.group)
        server = server_ids.get(place.server, place.server) if place.server else ""
        if svc.published:
            address = "" if place.stack else catalog.publish_address
            want.append(clashes.Wanted(clashes.Binding(server, address, svc.published, "tcp", name), f"{ns}:services/{name}/published"))
        if svc.route:
            claims.append(clashes.Claim(svc.route.host, svc.route.path, name, f"services/{name}/route"))
    return [
        *clashes.port_problems(stack, want, listing.composes, {i: n for n, i in server_ids.items()}),
        *clashes.route_problems(stack, claims, listing.domains),
    ]


def _reader(deploy: DeploySettings, key: str) -> Lister:
    def call(read: Callable[[DokployClient], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        with DokployClient(deploy.dokploy_url, key, allow_insecure_http=deploy.allow_insecure_http) as client:
            return read(client)

    def read() -> Listing:
        with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="clash-read") as pool:  # both lists at once
            projects = pool.submit(call, lambda c: c.project.all())
            overview = pool.submit(call, lambda c: c.overview.domains())
            others = [c for c in _composes(projects.result()) if not _ours(c, deploy)]
            chunks = [others[i::READERS] for i in range(READERS) if others[i::READERS]]
            read_chunks = pool.map(lambda chunk: _read_composes(deploy, key, chunk), chunks)
            composes = [other for chunk in read_chunks for other in chunk]
            domains = [d for d in overview.result() if not _own_domain(d, deploy)]
        return Listing(composes, domains)

    return read


def _composes(projects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every compose of ``project.all``: id, name, and its project's and environment's names."""
    out = []
    for project in projects:
        for env in project.get("environments") or []:
            for compose in env.get("compose") or [] if isinstance(env, dict) else []:
                if isinstance(compose, dict) and compose.get("composeId"):
                    out.append({"composeId": compose["composeId"], "name": compose.get("name"), "project": project.get("name"),
                                "environment": env.get("name"), "default": env.get("isDefault") is True})
    return out


def _ours(compose: Mapping[str, Any], deploy: DeploySettings) -> bool:
    """The stack's own project and environment ("production" is the project's default one)."""
    if compose.get("project") != deploy.project_name:
        return False
    if deploy.environment_name == "production":
        return bool(compose.get("default")) or compose.get("environment") == "production"
    return compose.get("environment") == deploy.environment_name


def _own_domain(row: Mapping[str, Any], deploy: DeploySettings) -> bool:
    return (row.get("serviceOwnerType") == "compose" and row.get("projectName") == deploy.project_name
            and row.get("environmentName") == deploy.environment_name)


def _read_composes(deploy: DeploySettings, key: str, composes: list[dict[str, Any]]) -> list[clashes.Other]:
    out = []
    with DokployClient(deploy.dokploy_url, key, allow_insecure_http=deploy.allow_insecure_http) as client:
        for compose in composes:
            try:
                row = client.compose.one(str(compose["composeId"]))
            except DokployNotFound:
                continue  # deleted since project.all
            owner = f"compose {compose['name']} (project {compose['project']}, environment {compose['environment']})"
            text = row.get("composeFile")
            out.append(clashes.Other(owner, clashes.published(text if isinstance(text, str) else "", str(row.get("serverId") or ""))))
    return out
