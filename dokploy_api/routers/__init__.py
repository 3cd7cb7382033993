"""One small class per Dokploy router (``project.*``, ``environment.*``, ``compose.*``, ...)."""

from dokploy_api.routers.compose import ComposeApi
from dokploy_api.routers.deployment import DeploymentApi
from dokploy_api.routers.docker import DockerApi
from dokploy_api.routers.domain import DomainApi
from dokploy_api.routers.environment import EnvironmentApi
from dokploy_api.routers.overview import OverviewApi
from dokploy_api.routers.project import ProjectApi
from dokploy_api.routers.registry import RegistryApi
from dokploy_api.routers.server import ServerApi
from dokploy_api.routers.swarm import SwarmApi

__all__ = [
    "ComposeApi",
    "DeploymentApi",
    "DockerApi",
    "DomainApi",
    "EnvironmentApi",
    "OverviewApi",
    "ProjectApi",
    "RegistryApi",
    "ServerApi",
    "SwarmApi",
]
