"""DokployProject: the Dokploy project and environment a stack deploys into, one resource per stack.

Everything that lives in the project (compose projects, registry credentials) depends on this
resource, so the project is found or created exactly once, before any of them: nothing relies on
losing a check-then-create race (Dokploy does not serialise "list, then create", API.md §15).

Provider guarantees (``DokployProjectProvider``):

* create: adopts the project (and environment) of that name when exactly one exists, else creates
  it; two projects of the same name are an error that names both ids. ``created_project`` and
  ``created_environment`` say what this stack created.
* diff: no API call; a new Dokploy URL, project or environment name is a replacement; an environment a
  refresh found gone (its id emptied) is an update.
* update: finds or creates that environment again (an environment removed by hand is recreated).
* read: a project deleted in Dokploy is gone; a renamed one is reported as drift.
* delete: removes the project only when this stack created it and it is empty (an environment this
  stack created in an adopted project: the same); otherwise it leaves it and says so in the engine's
  diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi import Output, ResourceOptions
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.provider_support import (
    DokployProviderBase,
    connection_props,
    engine_warning,
    guard,
    is_unknown,
    norm_url,
    props_of,
    read_result,
)
from dokploy_api import DokployClient, DokployConfigError, DokployNotFound, check_base_url
from dokploy_api.lookup import DEFAULT_ENVIRONMENT, find_environment, find_or_create_environment, find_or_create_project

PROJECT_INPUTS = ("dokploy_url", "api_key", "project_name", "environment_name", "allow_insecure_http")
REPLACE_KEYS = ("dokploy_url", "project_name", "environment_name")
SERVICE_KINDS = ("compose", "applications", "mariadb", "mongo", "mysql", "postgres", "redis", "libsql")


def _secrets(props: Mapping[str, Any]) -> list[str]:
    return [props["api_key"]] if isinstance(props.get("api_key"), str) and props["api_key"] else []


def services_in(environment: Mapping[str, Any]) -> int:
    """How many services (composes, applications, databases) an environment of ``project.one`` holds."""
    return sum(len(environment.get(kind) or []) for kind in SERVICE_KINDS)


@dataclass
class DokployProjectArgs:
    """Which Dokploy project and environment a stack deploys into."""

    dokploy_url: str
    project_name: str
    environment_name: str = DEFAULT_ENVIRONMENT
    """"production" is the project's default environment, which every project has."""
    allow_insecure_http: bool = False


@dataclass
class DokployProjectProvider(DokployProviderBase, ResourceProvider):
    """Dynamic provider behind DokployProject (see the module docstring)."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        p = props_of(news)
        failures: list[CheckFailure] = []
        for key in ("project_name", "environment_name"):
            value = p.get(key)
            if not is_unknown(value) and (not isinstance(value, str) or not value.strip() or value != value.strip()):
                failures.append(CheckFailure(key, f"{key}: should be a non-empty name without surrounding spaces"))
        if not is_unknown(p.get("dokploy_url")):
            try:
                check_base_url(str(p.get("dokploy_url") or ""), allow_insecure_http=bool(p.get("allow_insecure_http")))
            except DokployConfigError as exc:
                failures.append(CheckFailure("dokploy_url", str(exc)))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old, new = props_of(olds), props_of(news)
        replaces = [k for k in REPLACE_KEYS if k in new and not is_unknown(new[k]) and k in old and norm_url(old[k]) != norm_url(new[k])]
        changed = [k for k in REPLACE_KEYS if is_unknown(new.get(k))]
        if bool(old.get("allow_insecure_http")) != bool(new.get("allow_insecure_http")):
            changed.append("allow_insecure_http")
        if "environment_id" in old and not old.get("environment_id") and not replaces:
            changed.append("environment_id")  # removed in Dokploy (read emptied it): update recreates it
        return DiffResult(changes=bool(replaces or changed), replaces=replaces, stables=[], delete_before_replace=False)

    @guard(_secrets)
    def create(self, props: dict[str, Any]) -> CreateResult:
        p = props_of(props)
        with self._client(p, "create") as client:
            project, created_project = find_or_create_project(client, p["project_name"], "managed by pulumi (bizosaas-deploy)")
            environment, created_environment = find_or_create_environment(client, project, p["environment_name"])
        outs = self._outputs(p, project["projectId"], environment["environmentId"], created_project, created_environment)
        return CreateResult(project["projectId"], outs)

    @guard(_secrets)
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = props_of(olds), props_of(news)
        keep = (old.get("environment_id"), bool(old.get("created_project")), bool(old.get("created_environment")))
        if "environment_id" in old and not old.get("environment_id"):  # gone: find or create it again
            with self._client(new, "update") as client:
                environment, created = find_or_create_environment(client, client.project.one(_id), new["environment_name"])
            keep = (environment["environmentId"], keep[1], keep[2] or created)
        return UpdateResult(self._outputs(new, _id, *keep))

    @guard(_secrets)
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self._live(props, lambda client: client.project.one(id_))
        if live is None:
            return ReadResult("", {})
        outs = {k: v for k, v in props_of(props).items() if k != "api_key"}
        changed = False
        if live.get("name") and live.get("name") != outs.get("project_name"):
            outs["project_name"], changed = live["name"], True
        envs = [e for e in live.get("environments") or [] if isinstance(e, dict)]
        if not any(e.get("environmentId") == outs.get("environment_id") for e in envs):
            outs["environment_id"], changed = "", True  # gone: the next up finds or creates it again
        return read_result(id_, outs, PROJECT_INPUTS, changed)

    @guard(_secrets)
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        p = props_of(props)
        with self._client(p, "delete") as client:
            try:
                live = client.project.one(id_)
            except DokployNotFound:
                return
            engine_warning(self._remove_what_we_created(client, p, live))

    @staticmethod
    def _remove_what_we_created(client: DokployClient, p: Mapping[str, Any], live: Mapping[str, Any]) -> str:
        """Remove the project (or environment) this stack created if it is empty; the sentence that says what happened."""
        name = p.get("project_name")
        envs = [e for e in live.get("environments") or [] if isinstance(e, dict)]
        in_use = sum(services_in(e) for e in envs)
        if p.get("created_project"):
            if in_use:
                return f"Dokploy project {name!r} was kept: it still holds {in_use} service(s) this stack does not manage"
            client.project.remove(str(live["projectId"]))
            return ""
        if p.get("created_environment"):
            environment = find_environment(client, live, str(p.get("environment_name")))
            if environment is not None and not services_in(environment):
                client.environment.remove(str(environment["environmentId"]))
                environment_name = p.get("environment_name")
                return f"Dokploy project {name!r} was kept (this stack did not create it); its environment {environment_name!r} was removed"
        return f"Dokploy project {name!r} was kept: this stack did not create it"

    @staticmethod
    def _outputs(
        p: Mapping[str, Any], project_id: str, environment_id: Any, created_project: bool, created_environment: bool
    ) -> dict[str, Any]:
        outs = {k: p[k] for k in PROJECT_INPUTS if k in p and k != "api_key"}
        outs.update(
            project_id=project_id, environment_id=environment_id, created_project=created_project, created_environment=created_environment
        )
        return outs


class DokployProject(Resource, module="dokploy", name="Project"):
    """The Dokploy project + environment of a stack (found or created once; see the module docstring)."""

    project_id: Output[str]
    """Dokploy project id (also the resource id)."""
    environment_id: Output[str]
    """The environment the stack's composes live in."""
    created_project: Output[bool]
    """Whether this stack created the project (only then does destroy remove it)."""
    created_environment: Output[bool]
    """Whether this stack created the environment."""

    def __init__(self, name: str, args: DokployProjectArgs, opts: ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            **connection_props(args.dokploy_url, args.allow_insecure_http),
            "project_name": args.project_name,
            "environment_name": args.environment_name,
            "project_id": None,
            "environment_id": None,
            "created_project": None,
            "created_environment": None,
        }
        super().__init__(DokployProjectProvider(), name, props, opts)
