"""The ``registry.*`` procedures."""

from __future__ import annotations

from typing import Any

from dokploy_api.errors import DokployValidationError
from dokploy_api.routers.base import Router
from dokploy_api.shapes import as_dict, as_list, camel


class RegistryApi(Router):
    """Docker registry credentials Dokploy logs in with."""

    def all(self) -> list[dict[str, Any]]:
        """Every registry (the answer holds passwords: never log it)."""
        return as_list(self._t.query("registry.all"), "registry.all")

    def one(self, registry_id: str) -> dict[str, Any]:
        return as_dict(self._t.query("registry.one", registryId=registry_id), "registry.one")

    def create(
        self,
        registry_name: str,
        registry_url: str,
        username: str,
        password: str,
        *,
        registry_type: str = "cloud",
        image_prefix: str | None = None,
        server_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a registry (Dokploy runs ``docker login``); the answer holds the password: do not log it."""
        body: dict[str, Any] = {
            "registryName": registry_name,
            "registryUrl": registry_url,
            "username": username,
            "password": password,
            "registryType": registry_type,
            "imagePrefix": image_prefix,
        }
        if server_id is not None:
            body["serverId"] = server_id
        return as_dict(self._t.mutate("registry.create", body, idempotent=False), "registry.create")

    def update(self, registry_id: str, **fields: Any) -> Any:
        body = {"registryId": registry_id, **{camel(k): v for k, v in fields.items()}}
        return self._t.mutate("registry.update", body, idempotent=True)

    def remove(self, registry_id: str) -> Any:
        """Remove a registry; an unknown id raises DokployNotFound (Dokploy itself answers 400 for it)."""
        try:
            return self._t.mutate("registry.remove", {"registryId": registry_id}, idempotent=False)
        except DokployValidationError:  # "Error removing this registry": also what an unknown id gets
            self.one(registry_id)  # DokployNotFound when it is gone
            raise
