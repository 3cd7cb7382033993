"""Make a compose's domains in Dokploy the declared routes (one ``domain.byComposeId``, then only what differs).

The plan is ``core.domains.plan``'s: deletes first (a host one route gives up can be taken by another), then
updates, then creates. Dokploy writes the labels of the domains when the compose is next deployed: call this before
that deploy. Not atomic: a failure leaves what was done so far, and the next call plans from what Dokploy then holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from core import domains
from dokploy_api.client import DokployClient
from dokploy_api.errors import DokployNotFound


def reconcile_domains(
    client: DokployClient, compose_id: str, routes: Mapping[str, Mapping[str, Any]], live: Sequence[Mapping[str, Any]] | None = None
) -> domains.Plan:
    """Create, update and delete domains until Dokploy holds exactly ``routes`` for the compose; the plan that ran.
    ``live``: the compose's domains as just read (``compose.one`` lists them, the same rows), else read here."""
    live = client.domain.by_compose_id(compose_id) if live is None else [dict(row) for row in live]
    plan = domains.plan(routes, live)
    for row in plan.delete:
        with contextlib.suppress(DokployNotFound):  # deleted meanwhile
            client.domain.delete(str(row["domainId"]))
    for row, service, route in plan.update:
        client.domain.update(domains.update_body(str(row["domainId"]), service, route))
    for service, route in plan.create:
        client.domain.create(domains.create_body(compose_id, service, route))
    return plan
