"""The names Docker and Swarm derive from ours, and the appName we give Dokploy: checked before anything is pushed.

Dokploy's ``compose.create`` takes an ``appName`` and stores ``<it, lower-cased>-<6 random [a-z0-9]>``
(``buildAppName``, ``db/schema/utils.ts``); without one it generates ``compose-<verb>-<adjective>-<noun>-<6>``,
up to ~50 characters. The appName is the compose project (``docker compose -p``) or the stack
(``docker stack deploy ... <appName>``), and immutable. So the program gives a short one, stable per
stack and compose project (``app_name_base``), and checks every name derived from it:

* stack mode: each Swarm service is ``<appName>_<service>``; Swarm takes a service name only as a DNS
  label (``^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$``, at most 63 characters; swarmkit ``validateAnnotations``);
* both modes: each service is reached on ``dokploy-network`` by its container name (the container's
  name in compose mode, a network alias in stack mode), a host name whose label may have 63 characters.

Composes created before this change keep the appName Dokploy generated for them (it cannot change).
"""

from __future__ import annotations

import hashlib
import re

from core.model import Catalog

LABEL_MAX = 63
"""A DNS label (RFC 1035), and so a Swarm service name and a resolvable container name or alias."""
DOKPLOY_SUFFIX = 7
"""What Dokploy appends to the appName it is given: ``-`` and 6 random characters."""
BASE_MAX = 20
"""Our appName before Dokploy's suffix: at most this long (the appName at most 27)."""
SWARM_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
HOST_LABEL = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?$")


def app_name_base(stack: str, group: str) -> str:
    """The appName the program asks for: ``<stack>-<group>`` in Dokploy's alphabet, cut to ``BASE_MAX`` with a hash
    of the whole when longer, so that two long stack names never share one."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{stack}-{group}".lower()).strip("-") or "compose"
    if len(slug) <= BASE_MAX:
        return slug
    digest = hashlib.sha256(f"{stack}/{group}".encode()).hexdigest()[:6]
    return f"{slug[: BASE_MAX - 7].rstrip('-')}-{digest}"


def problems(stack: str, catalog: Catalog) -> list[str]:
    """Every derived name Docker or Swarm would refuse (or a resolver could not look up), with the limit and the fix."""
    out: list[str] = []
    for group in catalog.group_names:
        base = app_name_base(stack, group)
        app_len = len(base) + DOKPLOY_SUFFIX
        stack_mode = catalog.placement(group).stack
        for service in catalog.group(group):
            where = f"stack {stack}: services/{service.name}"
            swarm_name = f"{base}-xxxxxx_{service.name}"
            if stack_mode and len(swarm_name) > LABEL_MAX:
                out.append(
                    f"{where}: in stack mode Swarm names the service <appName>_<service>, {base}-<6 random>_{service.name}: "
                    f"{len(swarm_name)} characters, Docker allows {LABEL_MAX}; rename the service in catalog.yaml to at most "
                    f"{LABEL_MAX - app_len - 1} characters (or use a shorter stack name)"
                )
            elif stack_mode and not SWARM_NAME.match(swarm_name):
                out.append(
                    f"{where}: in stack mode Swarm names the service {base}-<6 random>_{service.name}, which is not a DNS label "
                    "(letters, digits, - and _ only, starting and ending with a letter or digit): rename the service in catalog.yaml"
                )
            name = service.container_name
            if len(name) > LABEL_MAX or not HOST_LABEL.match(name):
                out.append(
                    f"{where}: its container name {name!r} ({len(name)} characters) is the host name other services reach it by on "
                    f"dokploy-network, which allows {LABEL_MAX} characters of letters, digits, '.', '_' and '-': shorten the "
                    "catalog's container_name or the stack's containerSuffix"
                )
    return out
