"""ServiceImage: tag one locally built image with its registry name and push it.

The pushed manifest digest (``sha256_digest``) is the release identity of the service. The local
image id is the tag/push trigger, so an unchanged local image pushes nothing and changes nothing,
and a rebuilt one is re-tagged and re-pushed.
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from core.catalog import Service


class ServiceImage(pulumi.ComponentResource):
    """docker.Tag + docker.RegistryImage for one catalog service."""

    sha256_digest: pulumi.Output[str]
    """The registry's manifest digest of the pushed image (sha256:...)."""
    repo_digest: pulumi.Output[str]
    """<repository>@sha256:..., the immutable reference the compose file uses."""

    def __init__(
        self,
        service: Service,
        tag: str,
        local_image_id: str,
        provider: docker.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bizosaas:index:ServiceImage", service.name, {}, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        target = f"{service.image_repository}:{tag}"
        tagged = docker.Tag(
            f"{service.name}-tag",
            source_image=service.local_image,
            target_image=target,
            tag_triggers=[local_image_id],
            opts=child,
        )
        pushed = docker.RegistryImage(
            f"{service.name}-image",
            name=tagged.target_image,
            keep_remotely=True,
            triggers={"local_image_id": local_image_id},
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[tagged])),
        )
        self.sha256_digest = pushed.sha256_digest
        self.repo_digest = pushed.sha256_digest.apply(lambda d: f"{service.image_repository}@{d}")
        self.register_outputs({"sha256_digest": self.sha256_digest, "repo_digest": self.repo_digest})
