"""The ``overview.*`` procedures: the organisation at a glance (Dokploy's Overview page)."""

from __future__ import annotations

from typing import Any

from dokploy_api.routers.base import Router
from dokploy_api.shapes import as_list


class OverviewApi(Router):
    """What the organisation routes and runs, in one call each."""

    def domains(self) -> list[dict[str, Any]]:
        """Every domain of the key's organisation (applications, composes, preview deployments), each with its owner:
        ``{domainId, host, path, port, https, certificateType, enabled, domainType, serviceOwnerId, serviceOwnerType
        (application | compose), serviceName (the owner's name), projectId, projectName, environmentId,
        environmentName, ...}``."""
        return [r for r in as_list(self._t.query("overview.domains"), "overview.domains") if isinstance(r, dict)]
