"""The ``environment.*`` procedures."""

from __future__ import annotations

from typing import Any

from dokploy_api.routers.base import Router
from dokploy_api.shapes import as_dict


class EnvironmentApi(Router):
    """Environments of a project: read (with its composes) and create."""

    def one(self, environment_id: str) -> dict[str, Any]:
        """The environment with its ``compose`` summaries."""
        return as_dict(self._t.query("environment.one", environmentId=environment_id), "environment.one")

    def create(self, project_id: str, name: str, description: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"projectId": project_id, "name": name}
        if description is not None:
            body["description"] = description
        return as_dict(self._t.mutate("environment.create", body, idempotent=False), "environment.create")

    def remove(self, environment_id: str) -> dict[str, Any]:
        """Delete an empty, non-default environment (Dokploy refuses the others with a 400)."""
        return as_dict(self._t.mutate("environment.remove", {"environmentId": environment_id}, idempotent=False), "environment.remove")
