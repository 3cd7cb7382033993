"""The ``project.*`` procedures."""

from __future__ import annotations

from typing import Any

from dokploy_api.routers.base import Router
from dokploy_api.shapes import as_dict, as_list


class ProjectApi(Router):
    """Projects: list, read, create (with its default ``production`` environment)."""

    def all(self) -> list[dict[str, Any]]:
        """Every project of the key's organisation, each with its ``environments`` summary."""
        return as_list(self._t.query("project.all"), "project.all")

    def one(self, project_id: str) -> dict[str, Any]:
        return as_dict(self._t.query("project.one", projectId=project_id), "project.one")

    def create(self, name: str, description: str | None = None) -> dict[str, Any]:
        """Create a project; returns ``{"project": {...}, "environment": {...production...}}``. Never re-sent."""
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        return as_dict(self._t.mutate("project.create", body, idempotent=False), "project.create")

    def remove(self, project_id: str) -> dict[str, Any]:
        """Delete a project and, in Dokploy's database, everything in it (containers keep running: delete composes first)."""
        return as_dict(self._t.mutate("project.remove", {"projectId": project_id}, idempotent=False), "project.remove")
