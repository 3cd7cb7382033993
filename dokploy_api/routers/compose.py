"""The ``compose.*`` procedures."""

from __future__ import annotations

from typing import Any

from dokploy_api.errors import DokployNotFound
from dokploy_api.routers.base import Router
from dokploy_api.shapes import as_dict, camel


class ComposeApi(Router):
    """Compose services: create, read, update (raw YAML), save env, deploy, redeploy, delete."""

    def create(
        self,
        name: str,
        environment_id: str,
        *,
        compose_type: str = "docker-compose",
        source_type: str | None = "raw",
        compose_file: str | None = None,
        description: str | None = None,
        app_name: str | None = None,
    ) -> dict[str, Any]:
        """Create a compose service (does not deploy). Never re-sent once it may have arrived."""
        body: dict[str, Any] = {"name": name, "environmentId": environment_id, "composeType": compose_type}
        for key, value in (("sourceType", source_type), ("composeFile", compose_file), ("description", description), ("appName", app_name)):
            if value is not None:
                body[key] = value
        return as_dict(self._t.mutate("compose.create", body, idempotent=False), "compose.create")

    def one(self, compose_id: str) -> dict[str, Any]:
        return as_dict(self._t.query("compose.one", composeId=compose_id), "compose.one")

    def update(self, compose_id: str, **fields: Any) -> dict[str, Any]:
        """Partial update (snake_case or camelCase keys). An unknown id raises DokployNotFound."""
        body = {"composeId": compose_id, **{camel(k): v for k, v in fields.items()}}
        row = self._t.mutate("compose.update", body, idempotent=True)
        if row is None:
            raise DokployNotFound(
                "compose.update: Compose not found (empty answer: no compose has this id)",
                procedure="compose.update",
                status=200,
                dokploy_message="Compose not found",
            )
        return as_dict(row, "compose.update")

    def save_environment(self, compose_id: str, env: str | None, create_env_file: bool = True) -> Any:
        body = {"composeId": compose_id, "env": env, "createEnvFile": bool(create_env_file)}
        return self._t.mutate("compose.saveEnvironment", body, idempotent=True)

    def deploy(self, compose_id: str, title: str | None = None, description: str | None = None) -> Any:
        """Queue a deployment (asynchronous). Never re-sent once it may have arrived."""
        return self._t.mutate("compose.deploy", _deploy_body(compose_id, title, description), idempotent=False)

    def redeploy(self, compose_id: str, title: str | None = None, description: str | None = None) -> Any:
        """Queue a rebuild deployment (asynchronous). Never re-sent once it may have arrived."""
        return self._t.mutate("compose.redeploy", _deploy_body(compose_id, title, description), idempotent=False)

    def read_logs(self, compose_id: str, container_id: str, tail: int = 100, since: str = "all") -> str:
        """The last ``tail`` lines of a container's log (``docker container logs --timestamps``, stderr merged).

        Dokploy returns a failed command's own error text as the log (an unknown container gives
        ``Error response from daemon: No such container: ...``), so the text is not always a log.
        """
        lines = max(1, min(int(tail), 10000))
        text = self._t.query("compose.readLogs", composeId=compose_id, containerId=container_id, tail=lines, since=since)
        return text if isinstance(text, str) else ""

    def delete(self, compose_id: str, delete_volumes: bool = False) -> Any:
        """Delete the compose (Dokploy stops and removes its containers); returns the deleted row."""
        return self._t.mutate("compose.delete", {"composeId": compose_id, "deleteVolumes": bool(delete_volumes)}, idempotent=False)


def _deploy_body(compose_id: str, title: str | None, description: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"composeId": compose_id}
    if title is not None:
        body["title"] = title
    if description is not None:
        body["description"] = description
    return body
