"""The ``docker.*`` procedures: what runs, as Dokploy's host (or one of its servers) reports it."""

from __future__ import annotations

from typing import Any

from dokploy_api.routers.base import Router
from dokploy_api.shapes import as_list


class DockerApi(Router):
    """Containers of an app by name, one container's ``docker inspect`` object, a stack's tasks."""

    def containers_by_app_name_match(
        self, app_name: str, app_type: str | None = None, server_id: str | None = None
    ) -> list[dict[str, Any]]:
        """``docker ps -a`` rows ``{containerId, name, state, status}`` of a compose project (``app_type="docker-compose"``:
        by its project label) or, with ``"stack"``, the containers of a stack's running tasks (``node`` added).

        Dokploy answers ``[]`` whenever the command fails, so an empty list does not prove that nothing runs.
        """
        rows = as_list(
            self._t.query("docker.getContainersByAppNameMatch", appName=app_name, appType=app_type, serverId=server_id),
            "docker.getContainersByAppNameMatch",
        )
        return [r for r in rows if isinstance(r, dict) and isinstance(r.get("containerId"), str)]

    def config(self, container_id: str, server_id: str | None = None) -> dict[str, Any] | None:
        """The ``docker inspect`` object of a container, or None when Dokploy could not inspect it (it answers an empty body)."""
        answer = self._t.query("docker.getConfig", containerId=container_id, serverId=server_id)
        return answer if isinstance(answer, dict) else None

    def stack_containers(self, app_name: str, server_id: str | None = None) -> list[dict[str, Any]]:
        """Every task of a stack, old ones included: ``{containerId (task id), name, state, node, currentState, error}``."""
        rows = as_list(
            self._t.query("docker.getStackContainersByAppName", appName=app_name, serverId=server_id), "docker.getStackContainersByAppName"
        )
        return [r for r in rows if isinstance(r, dict)]

    def remove_container(self, container_id: str, server_id: str | None = None) -> None:
        """``docker rm -f <id>`` on Dokploy's host (or the server): what finishes a delete whose ``docker compose down``
        was cut short. Anything the command prints on stderr is an error (500)."""
        self._t.mutate("docker.removeContainer", {"containerId": container_id, **({"serverId": server_id} if server_id else {})})
