"""ServiceImage: tag one locally built image with its registry name and push it; its digest is the release identity.

The local image id is the tag/push trigger, so an unchanged local image pushes nothing and
changes nothing, and a rebuilt one is re-tagged and re-pushed. Give the docker provider through
``opts`` (``providers=[...]``); the children inherit it.

With ``tested_by`` (the image's pre-push test, components/test_gate.py) the Tag and the push wait
for that test and the Tag takes the image *by id*: exactly the image that passed is pushed, even if
the local name is rebuilt meanwhile. A failed test leaves both untouched: nothing is tagged or pushed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker


@dataclass
class ServiceImageArgs:
    """What to push: the local image, where to, and the id that says whether it changed."""

    local_image: str
    """The locally built and tested image (``bizosaas-brain-gateway:latest``)."""
    repository: str
    """Registry repository without tag (``ghcr.io/org/platform/brain-api``)."""
    tag: str
    """The tag pushed for humans (``staging``); machines use the digest."""
    local_image_id: str
    """``sha256:...`` of the local image: a new id re-tags and re-pushes."""
    tested_by: pulumi.Resource | None = None
    """The image's pre-push test: the Tag and the push depend on it, and the Tag's source is the tested id."""


class ServiceImage(pulumi.ComponentResource):
    """docker.Tag + docker.RegistryImage for one catalog service."""

    sha256_digest: pulumi.Output[str]
    """The registry's manifest digest of the pushed image (sha256:...)."""
    repo_digest: pulumi.Output[str]
    """<repository>@sha256:..., the immutable reference the compose file uses."""

    def __init__(self, name: str, args: ServiceImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bizosaas:index:ServiceImage", name, {}, opts)
        gate = [args.tested_by] if args.tested_by else []
        child = pulumi.ResourceOptions(parent=self, depends_on=gate)
        tagged = docker.Tag(
            f"{name}-tag",
            source_image=args.local_image_id if args.tested_by else args.local_image,
            target_image=f"{args.repository}:{args.tag}",
            tag_triggers=[args.local_image_id],
            opts=child,
        )
        pushed = docker.RegistryImage(
            f"{name}-image",
            name=tagged.target_image,
            keep_remotely=True,
            triggers={"local_image_id": args.local_image_id},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*gate, tagged]),
        )
        self.sha256_digest = pushed.sha256_digest
        self.repo_digest = pushed.sha256_digest.apply(lambda d: f"{args.repository}@{d}")
        self.register_outputs({"sha256_digest": self.sha256_digest, "repo_digest": self.repo_digest})
