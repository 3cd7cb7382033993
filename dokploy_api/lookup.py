"""Find Dokploy objects by name (names are not unique in Dokploy: several matches are an error, never a guess)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dokploy_api.client import DokployClient
from dokploy_api.errors import DokployAmbiguous, DokployProtocolError

DEFAULT_ENVIRONMENT = "production"


def at_most_one(matches: list[dict[str, Any]], id_key: str, procedure: str, what: str, hint: str = "") -> dict[str, Any] | None:
    """The single match, None for none; several is DokployAmbiguous."""
    if len(matches) > 1:
        ids = ", ".join(str(m.get(id_key)) for m in matches)
        raise DokployAmbiguous(f"{procedure}: {len(matches)} {what} ({ids}){hint}", procedure=procedure)
    return matches[0] if matches else None


def find_project(client: DokployClient, name: str) -> dict[str, Any] | None:
    """The project with this name (with its ``environments``), or None."""
    matches = [p for p in client.project.all() if isinstance(p, dict) and p.get("name") == name]
    return at_most_one(matches, "projectId", "project.all", f"projects are named {name!r}", "; rename or remove all but one")


def find_or_create_project(client: DokployClient, name: str, description: str | None = None) -> tuple[dict[str, Any], bool]:
    """(project with its ``environments``, whether it was created now). Not safe against a concurrent creator:
    call it from one place per project name (the DokployProject resource)."""
    found = find_project(client, name)
    if found is not None:
        found.setdefault("environments", [])
        return found, False
    created = client.project.create(name, description)
    project = created.get("project")
    env = created.get("environment")
    if not isinstance(project, dict) or not isinstance(project.get("projectId"), str):
        raise DokployProtocolError("project.create: answer has no project.projectId", procedure="project.create")
    project = dict(project)
    project["environments"] = [env] if isinstance(env, dict) else []
    return project, True


def find_environment(client: DokployClient, project: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The environment ``name`` of ``project`` (``"production"`` is the project's default one), or None."""
    project_id = project.get("projectId")
    if not isinstance(project_id, str):
        raise DokployProtocolError("project has no projectId")
    envs = project.get("environments")
    if not isinstance(envs, list):
        envs = client.project.one(project_id).get("environments") or []
    envs = [e for e in envs if isinstance(e, dict)]
    if name == DEFAULT_ENVIRONMENT:
        default = [e for e in envs if e.get("isDefault") is True]
        matches = default or [e for e in envs if e.get("name") == name]
    else:
        matches = [e for e in envs if e.get("name") == name]
    found = at_most_one(matches, "environmentId", "project.all", f"environments of project {project.get('name')!r} are named {name!r}")
    if found is None and name == DEFAULT_ENVIRONMENT:
        raise DokployProtocolError(f"project {project.get('name')!r} has no default (production) environment")
    return found


def find_or_create_environment(
    client: DokployClient, project: Mapping[str, Any], name: str, description: str | None = None
) -> tuple[dict[str, Any], bool]:
    """(environment ``name`` of ``project``, whether it was created now)."""
    found = find_environment(client, project, name)
    if found is not None:
        return found, False
    return client.environment.create(str(project["projectId"]), name, description), True


def find_compose(client: DokployClient, environment_id: str, name: str) -> dict[str, Any] | None:
    """The compose named ``name`` in the environment (summary row with ``composeId``), or None."""
    env = client.environment.one(environment_id)
    rows = env.get("compose")
    matches = [c for c in (rows if isinstance(rows, list) else []) if isinstance(c, dict) and c.get("name") == name]
    return at_most_one(matches, "composeId", "environment.one", f"composes are named {name!r} in environment {environment_id}")


def find_server(client: DokployClient, name: str) -> dict[str, Any] | None:
    """The remote server named ``name`` (``server.all``), or None; two of that name is DokployAmbiguous."""
    matches = [s for s in client.server.all() if s.get("name") == name]
    return at_most_one(matches, "serverId", "server.all", f"servers are named {name!r}", "; rename all but one in Dokploy")
