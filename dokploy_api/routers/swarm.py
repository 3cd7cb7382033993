"""The ``swarm.*`` procedures."""

from __future__ import annotations

from typing import Any

from dokploy_api.routers.base import Router
from dokploy_api.shapes import as_list


class SwarmApi(Router):
    """Swarm services of the Dokploy host (or one of its servers)."""

    def node_apps(self, server_id: str | None = None) -> list[dict[str, Any]]:
        """``docker service ls`` rows ``{ID, Name: "<appName>_<service>", Image, Mode, Replicas: "2/2", Ports}``
        (``[]`` when the host is no Swarm manager, or the command failed; nothing for an empty body)."""
        answer = self._t.query("swarm.getNodeApps", serverId=server_id)
        if answer is None:  # Dokploy returns undefined when the command wrote to stderr
            return []
        return [r for r in as_list(answer, "swarm.getNodeApps") if isinstance(r, dict) and isinstance(r.get("Name"), str)]
