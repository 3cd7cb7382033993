"""A small, careful client for Dokploy's REST surface (``/api/<router>.<procedure>``); it knows nothing about Pulumi.

``DokployClient`` (transport + one attribute per router), the errors it raises, and the flows
built on it: ``lookup`` (find by name) and ``deploy`` (deploy once, wait for that deployment).
"""

from dokploy_api.client import DokployClient
from dokploy_api.errors import (
    DeploymentFailed,
    DeploymentLost,
    DeploymentTimeout,
    DokployAmbiguous,
    DokployConfigError,
    DokployConflict,
    DokployConnectionError,
    DokployError,
    DokployForbidden,
    DokployNotFound,
    DokployProtocolError,
    DokployServerError,
    DokployUnauthorized,
    DokployUnreachable,
    DokployValidationError,
)
from dokploy_api.transport import DEFAULT_TIMEOUT, IDEMPOTENT_POSTS, check_base_url

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_POSTS",
    "DeploymentFailed",
    "DeploymentLost",
    "DeploymentTimeout",
    "DokployAmbiguous",
    "DokployClient",
    "DokployConfigError",
    "DokployConflict",
    "DokployConnectionError",
    "DokployError",
    "DokployForbidden",
    "DokployNotFound",
    "DokployProtocolError",
    "DokployServerError",
    "DokployUnauthorized",
    "DokployUnreachable",
    "DokployValidationError",
    "check_base_url",
]
