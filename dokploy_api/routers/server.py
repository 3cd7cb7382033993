"""The ``server.*`` procedures: the remote servers Dokploy deploys to over SSH."""

from __future__ import annotations

from typing import Any

from dokploy_api.routers.base import Router
from dokploy_api.shapes import as_dict, as_list


class ServerApi(Router):
    """Remote servers: list and read (a compose's ``serverId`` names one; Dokploy's own host has none)."""

    def all(self) -> list[dict[str, Any]]:
        """Every server of the key's organisation, newest first: ``{serverId, name, ipAddress, serverStatus, ..., totalSum}``."""
        return [r for r in as_list(self._t.query("server.all"), "server.all") if isinstance(r, dict)]

    def one(self, server_id: str) -> dict[str, Any]:
        """One server row (with ``deployments`` and ``sshKey``); an unknown id raises DokployNotFound ("Server not found")."""
        return as_dict(self._t.query("server.one", serverId=server_id), "server.one")
