"""STAND-IN for the pulumi-docker 5.2.0 resource provider plugin (``pulumi-resource-docker``).

Implements ``docker:index/tag:Tag`` and ``docker:index/registryImage:RegistryImage`` plus the
provider configuration (``registryAuth``, ``host``, ``disableDockerDaemonCheck``) against the real
Docker Engine (through the ``docker`` CLI) and a real registry (Docker Registry HTTP API v2).
Everything else the real provider offers is reported as not implemented.
"""

PACKAGE = "docker"
VERSION = "5.2.0"
BANNER = (
    "pulumi-resource-docker: STAND-IN for pulumi-docker 5.2.0 (bizosaas-deploy testkit/docker_plugin); "
    "implements only docker:index/tag:Tag and docker:index/registryImage:RegistryImage"
)
