"""One small class per Dokploy router (``project.*``, ``environment.*``, ``compose.*``, ...)."""

from dokploy_api.routers.compose import ComposeApi
from dokploy_api.routers.deployment import DeploymentApi
from dokploy_api.routers.environment import EnvironmentApi
from dokploy_api.routers.project import ProjectApi
from dokploy_api.routers.registry import RegistryApi

__all__ = ["ComposeApi", "DeploymentApi", "EnvironmentApi", "ProjectApi", "RegistryApi"]
