"""The ``domain.*`` procedures: the public routes (host, path, port, https, certificate) of a compose service.

Dokploy writes a compose's domains into its compose file as Traefik labels when it deploys it (``compose.deploy``):
a domain created, changed or deleted takes effect at the next deploy. ``compose.delete`` deletes the compose's domains
(a database cascade). Request bodies as Dokploy's OpenAPI document gives them; answers are domain rows
(``domainId``, ``host``, ``https``, ``port``, ``path``, ``serviceName``, ``domainType``, ``uniqueConfigKey``,
``composeId``, ``certificateType``, ``customCertResolver``, ``stripPath``, ``internalPath``, ``customEntrypoint``,
``middlewares``, ``enabled``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dokploy_api.routers.base import Router
from dokploy_api.shapes import as_dict, as_list


class DomainApi(Router):
    """Domains of compose services: list, read, create, update, delete."""

    def by_compose_id(self, compose_id: str) -> list[dict[str, Any]]:
        """Every domain of a compose (each with ``compose: {composeId, appName, name}``); an unknown compose has none."""
        return [r for r in as_list(self._t.query("domain.byComposeId", composeId=compose_id), "domain.byComposeId") if isinstance(r, dict)]

    def one(self, domain_id: str) -> dict[str, Any]:
        """One domain row; an unknown id raises DokployNotFound ("Domain not found")."""
        return as_dict(self._t.query("domain.one", domainId=domain_id), "domain.one")

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a domain (``core.domains.create_body``); returns the new row. Never re-sent once it may have arrived.

        Dokploy answers 400 with the database's message for a compose that does not exist, and for a host that is
        not a valid domain name."""
        return as_dict(self._t.mutate("domain.create", dict(body), idempotent=False), "domain.create")

    def update(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Update a domain (``core.domains.update_body``: ``domainId`` and ``host`` required); returns the updated row.
        An unknown id raises DokployNotFound."""
        return as_dict(self._t.mutate("domain.update", dict(body), idempotent=True), "domain.update")

    def delete(self, domain_id: str) -> dict[str, Any]:
        """Delete a domain; returns the deleted row. An unknown id raises DokployNotFound."""
        return as_dict(self._t.mutate("domain.delete", {"domainId": domain_id}, idempotent=False), "domain.delete")
