"""Import shim: stacks deployed before the module split pickled their providers as ``components.dokploy_provider.*``.

The engine unpickles the provider stored in each resource's state to refresh, update or delete
it, so these names must stay importable here. New code imports from ``components.compose_project``
and ``components.registry_credentials``.
"""

from components.compose_project import ComposeProject, ComposeProjectArgs, ComposeProjectProvider
from components.registry_credentials import DokployRegistry, RegistryArgs, RegistryProvider

__all__ = ["ComposeProject", "ComposeProjectArgs", "ComposeProjectProvider", "DokployRegistry", "RegistryArgs", "RegistryProvider"]
