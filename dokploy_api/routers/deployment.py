"""The ``deployment.*`` procedures."""

from __future__ import annotations

from typing import Any

from dokploy_api.routers.base import Router
from dokploy_api.shapes import as_list


class DeploymentApi(Router):
    """Deployment rows of a compose and their logs."""

    def all_by_compose(self, compose_id: str) -> list[dict[str, Any]]:
        """Deployment rows of a compose, newest first (``[]`` for an unknown id)."""
        rows = as_list(self._t.query("deployment.allByCompose", composeId=compose_id), "deployment.allByCompose")
        return [r for r in rows if isinstance(r, dict) and isinstance(r.get("deploymentId"), str)]

    def read_logs(self, deployment_id: str, tail: int = 100) -> str:
        """The last ``tail`` lines of a deployment's log (``""`` when there is none)."""
        text = self._t.query("deployment.readLogs", deploymentId=deployment_id, tail=max(1, min(int(tail), 10000)))
        return text if isinstance(text, str) else ""

    def queue_list(self) -> list[dict[str, Any]]:
        """Dokploy's deployment queue: the jobs waiting or running, newest first (each ``data.composeId`` names its compose).

        Self-hosted Dokploy keeps this queue in memory (since PR #4645): a restart empties it.
        """
        rows = as_list(self._t.query("deployment.queueList"), "deployment.queueList")
        return [r for r in rows if isinstance(r, dict)]
